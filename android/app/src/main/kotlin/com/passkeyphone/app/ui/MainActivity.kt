// The one activity: shows the Compose app, takes activation links (deep link and App Link) and
// notification taps, runs BiometricPrompt for the core's verify_user, and while it is on screen
// tells the app so and keeps the workspace watcher going.
package com.passkeyphone.app.ui

import android.content.Intent
import android.os.Build
import android.os.Bundle
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.viewModels
import androidx.biometric.BiometricManager
import androidx.biometric.BiometricManager.Authenticators.BIOMETRIC_STRONG
import androidx.biometric.BiometricManager.Authenticators.BIOMETRIC_WEAK
import androidx.biometric.BiometricManager.Authenticators.DEVICE_CREDENTIAL
import androidx.biometric.BiometricPrompt
import androidx.core.content.ContextCompat
import androidx.fragment.app.FragmentActivity
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.lifecycleScope
import androidx.lifecycle.repeatOnLifecycle
import com.passkeyphone.app.graph
import com.passkeyphone.coreui.Prompt
import kotlinx.coroutines.launch
import uniffi.authenticator_core.VerificationOutcome

class MainActivity : FragmentActivity() {
    private val model: MainViewModel by viewModels()
    private lateinit var biometricPrompt: BiometricPrompt

    /** The Verify prompt the system dialog is up for, if any. */
    private var verifying: Long? = null

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        // The system dialog outlives a rotation: remember which prompt it answers.
        verifying = savedInstanceState?.getLong(STATE_VERIFYING)?.takeIf { it != 0L }
        biometricPrompt = BiometricPrompt(this, ContextCompat.getMainExecutor(this), VerifyCallback())
        setContent { App(model) }
        if (savedInstanceState == null) handle(intent)
        lifecycleScope.launch {
            repeatOnLifecycle(Lifecycle.State.STARTED) {
                model.prompts.current.collect { prompt ->
                    // The core gave up (timeout, request withdrawn): take the system dialog down.
                    if (verifying != null && verifying != prompt?.id) {
                        verifying = null
                        biometricPrompt.cancelAuthentication()
                    }
                    if (prompt is Prompt.Verify) verify(prompt)
                }
            }
        }
    }

    override fun onSaveInstanceState(outState: Bundle) {
        super.onSaveInstanceState(outState)
        verifying?.let { outState.putLong(STATE_VERIFYING, it) }
    }

    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        handle(intent)
    }

    override fun onStart() {
        super.onStart()
        graph.appVisible.value = true
        graph.holdWorkspaceWatcher()
        model.applyLinkSetting()
    }

    override fun onStop() {
        graph.releaseWorkspaceWatcher()
        graph.appVisible.value = false
        super.onStop()
    }

    /** Activation links and notification taps. The link is a secret: it is never logged. */
    private fun handle(intent: Intent) {
        when (intent.action) {
            Intent.ACTION_VIEW -> intent.dataString?.let(model::openActivationLink)
            ACTION_OPEN_APPROVAL -> model.openApproval(intent.getStringExtra(EXTRA_APPROVAL_ID))
        }
    }

    /** The core asked for user verification: the system's biometric or screen-lock dialog. */
    private fun verify(prompt: Prompt.Verify) {
        if (verifying == prompt.id) return
        val allowed = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.R) {
            BIOMETRIC_STRONG or DEVICE_CREDENTIAL
        } else {
            // Android 9 and 10 cannot combine strong biometrics with the screen lock.
            BIOMETRIC_WEAK or DEVICE_CREDENTIAL
        }
        if (BiometricManager.from(this).canAuthenticate(allowed) != BiometricManager.BIOMETRIC_SUCCESS) {
            model.prompts.unavailable(prompt.id, "this phone has no screen lock to verify you with")
            return
        }
        verifying = prompt.id
        val info = BiometricPrompt.PromptInfo.Builder()
            .setTitle("Verify it's you")
            .setSubtitle(prompt.prompt.message)
            .setAllowedAuthenticators(allowed)
            .setConfirmationRequired(true)
            .build()
        biometricPrompt.authenticate(info)
    }

    private inner class VerifyCallback : BiometricPrompt.AuthenticationCallback() {
        override fun onAuthenticationSucceeded(result: BiometricPrompt.AuthenticationResult) =
            finish(VerificationOutcome.VERIFIED)

        /**
         * A single failed try leaves the dialog up; the dialog ends here. The negative button and
         * a user or system cancel are declines (no attempt spent); a lockout after failed tries is
         * a failed verification; anything else means the phone could not verify now.
         */
        override fun onAuthenticationError(errorCode: Int, errString: CharSequence) = when (errorCode) {
            BiometricPrompt.ERROR_NEGATIVE_BUTTON,
            BiometricPrompt.ERROR_USER_CANCELED,
            BiometricPrompt.ERROR_CANCELED,
            -> finish(VerificationOutcome.DECLINED)
            BiometricPrompt.ERROR_LOCKOUT,
            BiometricPrompt.ERROR_LOCKOUT_PERMANENT,
            -> finish(VerificationOutcome.FAILED)
            else -> {
                verifying?.let { model.prompts.unavailable(it, errString.toString()) }
                verifying = null
            }
        }

        private fun finish(outcome: VerificationOutcome) {
            verifying?.let { model.prompts.answerVerification(it, outcome) }
            verifying = null
        }
    }

    companion object {
        const val ACTION_OPEN_APPROVAL = "com.passkeyphone.app.OPEN_APPROVAL"
        const val ACTION_ANSWER_PROMPT = "com.passkeyphone.app.ANSWER_PROMPT"
        const val EXTRA_APPROVAL_ID = "approval_id"
        private const val STATE_VERIFYING = "verifying"
    }
}
