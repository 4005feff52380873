// Gradle settings of the Android project: where plugins and libraries come from, and the modules
// (app: the Compose app; core-ui: the pure-Kotlin state holders, also compiled on the host).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
        // The Kotlin half of rustls-platform-verifier (the core's TLS trust on Android) is
        // published only in the rustls project's own Maven archive.
        maven("https://github.com/rustls/rustls-platform-verifier/raw/maven-archive/android-release-support/maven/") {
            content { includeGroup("org.rustls") }
        }
    }
}

rootProject.name = "passkeyphone-android"
include(":app", ":core-ui", ":btleplug-java")
