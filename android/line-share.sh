#!/usr/bin/env bash
# The share of the Android app's Kotlin that the host tests compile: non-blank, non-comment
# lines of the main sources of `app` (compiled only with the Android SDK) and `core-ui`
# (compiled and tested on the host JVM by host-test.sh). Comment lines are those starting
# with //, /*, * or */ once indented; a line with code and a trailing comment counts as code.
# Usage: android/line-share.sh   (from any folder)
set -euo pipefail
cd "$(dirname "$0")"

count() {
  find "$1" -name '*.kt' -print0 | xargs -0 cat |
    awk '{ sub(/^[ \t]+/, "") } $0 != "" && !/^(\/\/|\/\*|\*)/ { n++ } END { print n + 0 }'
}

app=$(count app/src/main/kotlin)
core_ui=$(count core-ui/src/main/kotlin)
total=$((app + core_ui))
echo "app: $app lines, core-ui: $core_ui lines; host-tested share: $((core_ui * 100 / total))% ($core_ui of $total)"
