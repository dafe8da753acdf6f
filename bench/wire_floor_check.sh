#!/usr/bin/env bash
# bench.wire_floor_smoke: runs unary_pipeline_frame_bytes_x64 for a moment and checks that
#   - raw TCP, raw TCP padded to weft's mean frame size, the wire floor (weft's frames echoed
#     by weft's codec alone) and weft each printed a line with a rate above zero (the floor's
#     client answers 0 when a response frame fails to decode or is not the echo it expects);
#   - the floor's frames weigh what weft's do: its request and response frame sizes are within
#     a byte of the mean bytes per frame weft's client sent and received in the same run
#     (weft's counters; the handshake and the first 2048 calls' shorter mux ids move the mean
#     by less than that);
#   - the padded size is the mean of the two, and weft's line gives its ratio to the floor.
#   wire_floor_check.sh WEFT_BENCH
set -uo pipefail
bench=$1
out=$("$bench" --scenario unary_pipeline_frame_bytes_x64 --seconds 0.3 --peers none)
status=$?
echo "$out"
if [[ $status -ne 0 ]]; then
  echo "FAIL: weft-bench exited with $status"
  exit 1
fi
rate_of() {
  sed -nE "s/^\{\"scenario\":\"unary_pipeline_frame_bytes_x64\",\"peer\":\"$1\",\"value\":([0-9.]+),.*/\1/p" <<< "$out"
}
for peer in raw_tcp 'raw_tcp_[0-9]+B' raw_tcp_weft_frames weft; do
  rate=$(rate_of "$peer")
  if [[ -z $rate ]] || ! awk -v r="$rate" 'BEGIN { exit !(r > 0) }'; then
    echo "FAIL: no rate above zero for $peer (got '$rate')"
    exit 1
  fi
done
padded=$(sed -nE 's/.*"peer":"raw_tcp_([0-9]+)B".*/\1/p' <<< "$out")
request=$(sed -nE 's/.*"request_frame_bytes":([0-9]+).*/\1/p' <<< "$out")
response=$(sed -nE 's/.*"response_frame_bytes":([0-9]+).*/\1/p' <<< "$out")
if [[ -z $padded || -z $request || -z $response ]] || (( padded <= 64 )) ||
   (( padded != (request + response + 1) / 2 )); then
  echo "FAIL: padded to '$padded' B for frames of '$request' and '$response' B"
  exit 1
fi
weft_line=$(grep -E '"peer":"weft",' <<< "$out")
sent=$(sed -nE 's/.*"sent_bytes_per_frame":([0-9.]+).*/\1/p' <<< "$weft_line")
received=$(sed -nE 's/.*"received_bytes_per_frame":([0-9.]+).*/\1/p' <<< "$weft_line")
if ! grep -qE '"ratio_to_weft_frames":[0-9.]+' <<< "$weft_line" || [[ -z $sent || -z $received ]]; then
  echo "FAIL: weft's line lacks its ratio to the floor or its bytes per frame"
  exit 1
fi
if ! awk -v a="$request" -v b="$sent" -v c="$response" -v d="$received" \
     'BEGIN { exit !((a - b)^2 < 1 && (c - d)^2 < 1) }'; then
  echo "FAIL: the floor's frames ($request B, $response B) are not weft's ($sent B sent, $received B received per frame)"
  exit 1
fi
echo "ok: every phase ran; frames of $request and $response B as weft's ($sent, $received), padded to $padded B"
