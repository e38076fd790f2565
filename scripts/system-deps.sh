#!/usr/bin/env bash
# Install the Debian packages the test suite needs, when they are missing; with `bench`,
# also those the benchmarks compare against.
set -euo pipefail

# exiftool and exiv2 read the XMP we write (exiftool also finds RAW previews LibRaw cannot);
# ffmpeg/ffprobe take a video's length and frames; setpriv drops root's right to read any
# file, so the unreadable-file test means the same as a user's; systemd-analyze checks the
# shipped unit (verify, security); darktable's exporter is a photo manager reading what we
# wrote (tests/test_darktable.py); chromium runs the browser tests of the review page.
declare -A need=([exiftool]=libimage-exiftool-perl [exiv2]=exiv2 [setpriv]=util-linux
                 [ffmpeg]=ffmpeg [ffprobe]=ffmpeg [systemd-analyze]=systemd
                 [darktable-cli]=darktable [chromium]=chromium)
if [ "${1:-}" = bench ]; then
  need[convert-im6.q16]=imagemagick  # the renditions benchmark's reference
fi
missing=()
for tool in "${!need[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${need[$tool]}")
done
# PostgreSQL's server programs (the fleet's tests start a throwaway server); Debian keeps
# them off the PATH, in /usr/lib/postgresql/<version>/bin
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null 2>&1 \
  || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

echo "installing Debian packages the tests need: ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo -n)
else
  echo "error: need root (or password-less sudo) to run: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
