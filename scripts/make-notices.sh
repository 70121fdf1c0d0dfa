#!/usr/bin/env bash
# Regenerate the shipped default notice and apology (espeak-ng, 8 kHz 16-bit mono PCM WAV).
set -euo pipefail
cd "$(dirname "$0")/../consent/assets"
say() {  # say OUT TEXT
  espeak-ng -v en-gb -s 150 -w "$1.tmp.wav" "$2"
  ffmpeg -v error -y -i "$1.tmp.wav" -ar 8000 -ac 1 -c:a pcm_s16le -map_metadata -1 \
    -fflags +bitexact "$1"
  rm -f "$1.tmp.wav"
}
say notice-customer-service-en-GB.wav "Thank you for calling Brentwood Borough Council customer services. Calls may be recorded or monitored for quality, training and to help us resolve complaints. If you do not want this call recorded, press nine now."
say apology-en-GB.wav "We are sorry, nobody is available to take your call right now. Please call again later. Goodbye."
