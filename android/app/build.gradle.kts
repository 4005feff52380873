// The Android app: Compose screens and the platform services (Keystore, biometrics,
// notifications, the link foreground service) over the core, whose native library
// android/build-rust.sh puts in src/main/jniLibs.
plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "com.passkeyphone.app"
    compileSdk = 35

    defaultConfig {
        applicationId = "com.passkeyphone.app"
        minSdk = 28
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        manifestPlaceholders["activationLinkHost"] =
            providers.gradleProperty("activationLinkHost").get()
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    buildFeatures {
        compose = true
    }

    lint {
        abortOnError = true
        // The generated bindings and btleplug's Java are other modules; lint this app's code.
        checkDependencies = false
    }
}

kotlin {
    jvmToolchain(17)
}

// The native libraries come from android/build-rust.sh; fail early with the fix, not at run time.
val checkNativeLibraries by tasks.registering {
    val jniLibs = layout.projectDirectory.dir("src/main/jniLibs")
    doLast {
        val found = jniLibs.asFileTree.matching { include("**/libauthenticator_core.so") }.files
        check(found.isNotEmpty()) { "no libauthenticator_core.so in app/src/main/jniLibs: run android/build-rust.sh" }
    }
}
tasks.named("preBuild") { dependsOn(checkNativeLibraries) }

dependencies {
    implementation(project(":core-ui"))
    implementation(project(":btleplug-java"))
    // JNA with its Android native dispatch library (the core-ui module compiles against the jar).
    implementation(variantOf(libs.jna) { artifactType("aar") })
    implementation(libs.kotlinx.coroutines.android)
    implementation(libs.rustls.platform.verifier)

    implementation(platform(libs.compose.bom))
    implementation(libs.compose.ui)
    implementation(libs.compose.material3)
    implementation(libs.compose.ui.tooling.preview)
    debugImplementation(libs.compose.ui.tooling)
    implementation(libs.activity.compose)
    implementation(libs.lifecycle.runtime.compose)
    implementation(libs.lifecycle.viewmodel.compose)
    implementation(libs.lifecycle.service)
    implementation(libs.core.ktx)
    implementation(libs.biometric)
    implementation(libs.zxing.embedded)
}
