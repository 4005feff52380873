// btleplug's Java half (the Android BLE calls the Rust crate makes over JNI), compiled from the
// crate's own sources, which android/build-rust.sh copies into build/generated/btleplug-java
// from the Cargo registry (the version Cargo.lock picks). Nothing of it is committed here.
plugins {
    alias(libs.plugins.android.library)
}

android {
    namespace = "com.passkeyphone.btleplugjava"
    compileSdk = 35

    defaultConfig {
        minSdk = 28
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets["main"].java.srcDir(layout.buildDirectory.dir("generated/btleplug-java"))

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    lint {
        // Third-party sources: reported, not gating.
        abortOnError = false
    }
}

val checkSources by tasks.registering {
    val sources = layout.buildDirectory.dir("generated/btleplug-java")
    doLast {
        check(sources.get().asFile.resolve("com/nonpolynomial").isDirectory) {
            "btleplug's Java sources are missing: run android/build-rust.sh"
        }
    }
}
tasks.named("preBuild") { dependsOn(checkSources) }
