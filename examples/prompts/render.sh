#!/usr/bin/env bash
# Render the spoken prompts listed in LIST (name | text) into OUTDIR/<name>.wav
# (8 kHz, mono, 16-bit PCM), and a music-on-hold loop, with espeak-ng and sox. No network.
# Usage: render.sh LIST OUTDIR
set -euo pipefail
list=$1 out=$2
for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || { echo "render.sh: $tool is missing (apt-get install espeak-ng sox)" >&2; exit 3; }
done
mkdir -p "$out"
while IFS='|' read -r name text; do
  name=$(echo "$name" | xargs); text=$(echo "$text" | sed 's/^ *//;s/ *$//')
  [[ -z "$name" || "$name" == \#* ]] && continue
  target="$out/$name.wav"
  [[ -s "$target" && "$target" -nt "$list" ]] && continue
  espeak-ng -v en-us -s 150 --stdout "$text" | sox -t wav - -r 8000 -c 1 -b 16 -e signed-integer "$target" pad 0 0.2
done < "$list"
# Music on hold: a soft two-chord loop, 10 s (espeak-ng and sox only, nothing downloaded).
if [[ ! -s "$out/moh.wav" ]]; then
  tmp=$(mktemp -d)
  sox -n -r 8000 -c 3 -b 16 "$tmp/a.wav" synth 5 sine 262 sine 330 sine 392 remix - gain -18 fade 0.3 5 0.3
  sox -n -r 8000 -c 3 -b 16 "$tmp/b.wav" synth 5 sine 220 sine 277 sine 330 remix - gain -18 fade 0.3 5 0.3
  sox "$tmp/a.wav" "$tmp/b.wav" -c 1 "$out/moh.wav"
  rm -rf "$tmp"
fi
echo "prompts: $(ls "$out" | wc -l) files in $out"
