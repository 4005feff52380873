#!/usr/bin/env bash
# Host tests of the Android app's pure-Kotlin layer (android/core-ui) against the REAL core
# library: installs what it needs (JNA, JUnit 4 from apt; kotlinc from npm, cached in
# target/kotlinc), builds the core, its Kotlin bindings and the reference tunnel server (for
# the linking tests), compiles bindings + core-ui + tests into one jar with kotlinc-jvm, runs
# them with JUnitCore.
# Prints one last line `kotlin: N passed, N failed`; exits non-zero on any failure.
# Usage: android/host-test.sh   (from any folder)
set -euo pipefail
cd "$(dirname "$0")/.."

KOTLIN_VERSION=2.4.20
kotlin_home=target/kotlinc/package
bindings=target/bindings-kt
out=target/kotlin-host-tests
log=$out/junit.log

summary() {
  echo "kotlin: $1 passed, $2 failed"
  [ "$2" -eq 0 ]
}

sudo_if_needed() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# 1. Tools: a JDK, npm, JNA and JUnit 4 (apt), kotlinc (npm).
need_apt=()
command -v javac >/dev/null 2>&1 || need_apt+=(openjdk-17-jdk-headless)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
[ -f /usr/share/java/jna.jar ] || need_apt+=(libjna-java)
[ -f /usr/share/java/junit4.jar ] || need_apt+=(junit4)
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "installing: ${need_apt[*]}"
  sudo_if_needed apt-get update -qq
  sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if [ ! -x "$kotlin_home/bin/kotlinc-jvm" ]; then
  echo "fetching kotlinc $KOTLIN_VERSION (npm)"
  rm -rf target/kotlinc
  mkdir -p target/kotlinc
  (cd target/kotlinc && npm pack --silent "kotlin-compiler@$KOTLIN_VERSION" >/dev/null \
    && tar xzf "kotlin-compiler-$KOTLIN_VERSION.tgz" && rm "kotlin-compiler-$KOTLIN_VERSION.tgz")
  chmod +x "$kotlin_home"/bin/*
fi

# 2. The core library and its Kotlin bindings (the same settings as the app's, android/uniffi.toml).
cargo build --locked -q -p authenticator-core
cargo build --locked -q -p authenticator-core --features bindgen --bin uniffi-bindgen
# The reference tunnel server, which the linking tests start on 127.0.0.1 (TunnelServerProcess).
cargo build --locked -q -p tunnel-server
rm -rf "$bindings"
target/debug/uniffi-bindgen generate --no-format --config android/uniffi.toml \
  --library target/debug/libauthenticator_core.so --language kotlin --out-dir "$bindings" >/dev/null

# 3. Compile bindings + core-ui + tests into one jar.
lib=$kotlin_home/lib
classpath="$lib/kotlinx-coroutines-core-jvm.jar:/usr/share/java/jna.jar:/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar"
rm -rf "$out"
mkdir -p "$out"
sources=$(find "$bindings" android/core-ui/src/main/kotlin android/core-ui/src/test/kotlin -name '*.kt' | sort)
echo "compiling $(echo "$sources" | wc -l) Kotlin files"
# shellcheck disable=SC2086 # one path per word
if ! "$kotlin_home/bin/kotlinc-jvm" -nowarn -jvm-target 17 -cp "$classpath" -d "$out/tests.jar" $sources \
    >"$out/compile.log" 2>&1; then
  cat "$out/compile.log"
  echo "the Kotlin sources did not compile"
  summary 0 1
  exit 1
fi

# 4. Run every *Test class with JUnit 4 against target/debug/libauthenticator_core.so.
classes=$(find android/core-ui/src/test/kotlin -name '*Test.kt' | sort | while read -r file; do
  package=$(sed -n 's/^package \(.*\)$/\1/p' "$file" | head -n 1)
  echo "$package.$(basename "$file" .kt)"
done)
set +e
# shellcheck disable=SC2086 # one class per word
java -Djna.library.path=target/debug -cp "$out/tests.jar:$lib/kotlin-stdlib.jar:$classpath" \
  org.junit.runner.JUnitCore $classes >"$log" 2>&1
status=$?
set -e
cat "$log"

# JUnitCore ends with "OK (N tests)" or "Tests run: N,  Failures: M".
if ok=$(sed -n 's/^OK (\([0-9]*\) tests\{0,1\})$/\1/p' "$log" | tail -n 1) && [ -n "$ok" ] && [ "$status" -eq 0 ]; then
  summary "$ok" 0
elif run=$(sed -n 's/^Tests run: \([0-9]*\), *Failures: \([0-9]*\).*$/\1 \2/p' "$log" | tail -n 1) && [ -n "$run" ]; then
  read -r total failures <<<"$run"
  summary "$((total - failures))" "$failures"
else
  echo "JUnit did not report a result (exit status $status)"
  summary 0 1
fi
