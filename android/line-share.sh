#!/usr/bin/env bash
# The share of the Android app's Kotlin that the host tests compile: non-blank, non-comment
# lines of the main sources of `app` (compiled only with the Android SDK) and `core-ui`
# (compiled and tested on the host JVM by host-test.sh). Comment lines are those starting
# with //, /*, * or */ once indented; a line with code and a trailing comment counts as code.
# The second line leaves out `import` and `package` lines too (Compose files import a lot).
# Usage: android/line-share.sh   (from any folder)
set -euo pipefail
cd "$(dirname "$0")"

# count DIR [SKIP]: code lines of the Kotlin files under DIR, leaving out lines matching SKIP.
count() {
  find "$1" -name '*.kt' -print0 | xargs -0 cat |
    awk -v skip="${2:-^$}" '{ sub(/^[ \t]+/, "") } $0 != "" && !/^(\/\/|\/\*|\*)/ && $0 !~ skip { n++ } END { print n + 0 }'
}

share() {
  local app core_ui
  app=$(count app/src/main/kotlin "$2")
  core_ui=$(count core-ui/src/main/kotlin "$2")
  echo "$1: app $app, core-ui $core_ui; host-tested share $((core_ui * 100 / (app + core_ui)))% ($core_ui of $((app + core_ui)))"
}

share "code lines" ""
share "without import/package lines" "^(import|package) "
