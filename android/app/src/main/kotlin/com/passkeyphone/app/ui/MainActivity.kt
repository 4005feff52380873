// The one activity: shows the Compose app, takes activation links (deep link and App Link) and
// notification taps, runs BiometricPrompt for the core's verify_user (when to show and take
// down the dialog and what its ending answers is core-ui's VerificationDialog), and while it is
// on screen tells the app so and keeps the workspace watcher going.
package com.passkeyphone.app.ui

import android.content.Intent
import android.os.Build
import android.os.Bundle
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.activity.viewModels
import androidx.biometric.BiometricManager
import androidx.biometric.BiometricPrompt
import androidx.core.content.ContextCompat
import androidx.fragment.app.FragmentActivity
import androidx.lifecycle.Lifecycle
import androidx.lifecycle.lifecycleScope
import androidx.lifecycle.repeatOnLifecycle
import com.passkeyphone.app.graph
import com.passkeyphone.coreui.Prompt
import com.passkeyphone.coreui.VerificationDialog
import kotlinx.coroutines.launch

class MainActivity : FragmentActivity() {
    private val model: MainViewModel by viewModels()
    private lateinit var biometricPrompt: BiometricPrompt

    /** Which Verify prompt the system dialog is up for, and what its ending answers (core-ui). */
    private lateinit var dialog: VerificationDialog

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        enableEdgeToEdge()
        // The system dialog outlives a rotation: remember which prompt it answers.
        dialog = VerificationDialog(model.prompts, savedInstanceState?.getLong(STATE_VERIFYING)?.takeIf { it != 0L })
        biometricPrompt = BiometricPrompt(this, ContextCompat.getMainExecutor(this), VerifyCallback())
        setContent { App(model) }
        if (savedInstanceState == null) handle(intent)
        lifecycleScope.launch {
            repeatOnLifecycle(Lifecycle.State.STARTED) {
                model.prompts.current.collect { prompt ->
                    val step = dialog.onPrompt(prompt) {
                        BiometricManager.from(this@MainActivity).canAuthenticate(allowed) == BiometricManager.BIOMETRIC_SUCCESS
                    }
                    // The core gave up (timeout, request withdrawn): take the system dialog down.
                    if (step.dismiss) biometricPrompt.cancelAuthentication()
                    step.show?.let(::verify)
                }
            }
        }
    }

    override fun onSaveInstanceState(outState: Bundle) {
        super.onSaveInstanceState(outState)
        dialog.verifying?.let { outState.putLong(STATE_VERIFYING, it) }
    }

    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        handle(intent)
    }

    override fun onStart() {
        super.onStart()
        graph.appVisible.value = true
        graph.watcher.hold()
        model.applyLinkSetting()
    }

    override fun onStop() {
        graph.watcher.release()
        graph.appVisible.value = false
        graph.upkeep.schedule()
        super.onStop()
    }

    /** Activation links and notification taps. The link is a secret: it is never logged. */
    private fun handle(intent: Intent) {
        when (intent.action) {
            Intent.ACTION_VIEW -> intent.dataString?.let(model.flow::openActivationLink)
            ACTION_OPEN_APPROVAL -> model.flow.openApproval(intent.getStringExtra(EXTRA_APPROVAL_ID))
        }
    }

    /** Biometrics or the screen lock; which biometrics depends on the Android version. */
    private val allowed = VerificationDialog.allowedAuthenticators(Build.VERSION.SDK_INT)

    /** The core asked for user verification: the system's biometric or screen-lock dialog. */
    private fun verify(prompt: Prompt.Verify) {
        val info = BiometricPrompt.PromptInfo.Builder()
            .setTitle(VerificationDialog.TITLE)
            .setSubtitle(prompt.prompt.message)
            .setAllowedAuthenticators(allowed)
            .setConfirmationRequired(true)
            .build()
        biometricPrompt.authenticate(info)
    }

    /** A single failed try leaves the dialog up; the dialog's end is core-ui's to interpret. */
    private inner class VerifyCallback : BiometricPrompt.AuthenticationCallback() {
        override fun onAuthenticationSucceeded(result: BiometricPrompt.AuthenticationResult) = dialog.onSucceeded()

        override fun onAuthenticationError(errorCode: Int, errString: CharSequence) =
            dialog.onError(errorCode, errString.toString())
    }

    companion object {
        const val ACTION_OPEN_APPROVAL = "com.passkeyphone.app.OPEN_APPROVAL"
        const val ACTION_ANSWER_PROMPT = "com.passkeyphone.app.ANSWER_PROMPT"
        const val EXTRA_APPROVAL_ID = "approval_id"
        private const val STATE_VERIFYING = "verifying"
    }
}
