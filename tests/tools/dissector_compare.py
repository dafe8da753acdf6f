"""Compares what the Wireshark dissector (scripts/wireshark/weft.lua) shows with what
weft-dump --json prints for the same bytes, frame by frame. Used by dissector_check.sh.

  dissector_compare.py --tshark T --lua weft.lua --dump WEFT_DUMP --pcap X.pcap
                       [--decode-port P] [--expect FILE] [--originals FILE] [--min-frames N]

Each TCP stream of the pcap is split into its two directions with tshark's own
reassembly (`-z follow,tcp,raw`, independent of the dissector); weft-dump decodes each
direction; tshark with the dissector (`-T json`) decodes the packets. For every direction:
the frames must agree field by field (weft-dump's keys against the fields weft.<key>),
in order, with nothing left over on either
side, every checksum must be verified good, and the first protocol error must be the same (name and byte offset; weft-dump's
"truncated" is a last frame that never completed: the dissector shows nothing of it).

--expect FILE: lines "STREAM DIRECTION error at byte N: NAME" (DIRECTION 0: the side
that opened the TCP connection) give the error a direction must end with. That line wins
over weft-dump's where weft-dump cannot know (checksum_missing: it reads one direction,
so it does not know checksums were agreed, PROTOCOL.md §10.2): weft-dump then shows that
frame as valid, and the dissector flags it.
--originals FILE: lines "STREAM DIRECTION PATH": the bytes tshark's reassembly gives for
that direction must equal the file (checks the pcap itself). With --decode-port P,
direction 0 is the side whose port is not P, the one that opened the connection.
--two-pass: run tshark with -2 (the dissector then shows on the second pass what it
found on the first).
--cut N: the pcap leaves out each direction's first N bytes (weft_wire_to_pcap
--skip-bytes N); the dissector must find the first whole frame after them and agree with
weft-dump's decoding of the whole --originals file from there on.
--allow-checksum-missing: a direction may end with checksum_missing where weft-dump
decoded a frame without a checksum (for streams whose expected errors are not listed).
--absolute-seq: run tshark with -o tcp.relative_sequence_numbers:FALSE (the dissector must
not depend on that preference: the same frames, at the same offsets).
--decode-port P: decode TCP port P as weft (`-d tcp.port==P,weft`); without it the
dissector must find weft by its heuristic (tried first, before port numbers).

Exit status 0 when everything agrees, 1 on any difference (each printed), 2 on usage.
"""

import argparse
import json
import re
import subprocess
import sys


def run(cmd, **kwargs):
    return subprocess.run(cmd, capture_output=True, check=False, **kwargs)


def tshark_base(args):
    cmd = [args.tshark, "-n", "-r", args.pcap, "-X", "lua_script:" + args.lua,
           "-o", "weft.verify_max_kib:65536"]
    if args.two_pass:
        # The second pass revisits every packet: what the first found stays. Without a
        # filter tshark's first pass dissects nothing (so TCP reassembles nothing).
        cmd += ["-2", "-Y", "tcp"]
    if args.absolute_seq:
        cmd += ["-o", "tcp.relative_sequence_numbers:FALSE"]
    if args.decode_port:
        cmd += ["-d", "tcp.port==%d,weft" % args.decode_port]
    else:
        cmd += ["-o", "tcp.try_heuristic_first:TRUE"]
    return cmd


def stream_directions(args, streams):
    """Bytes of each direction of each TCP stream, from tshark's follow (no dissector)."""
    cmd = [args.tshark, "-n", "-r", args.pcap, "-q"]
    for stream in streams:
        cmd += ["-z", "follow,tcp,raw,%d" % stream]
    result = run(cmd)
    if result.returncode != 0:
        sys.exit("tshark follow failed: " + result.stderr.decode(errors="replace"))
    out = {}
    current = None
    swapped = False
    for line in result.stdout.decode().splitlines():
        match = re.match(r"^Filter: tcp.stream eq (\d+)", line)
        if match:
            current = int(match.group(1))
            out[current] = [bytearray(), bytearray()]
            continue
        # Node 0 sent the stream's first packet; when that is the server, its bytes are
        # direction 1.
        match = re.match(r"^Node 0: .*:(\d+)$", line)
        if match:
            swapped = args.decode_port != 0 and int(match.group(1)) == args.decode_port
            continue
        if current is None or not line.strip() or line.startswith(("=", "Follow:", "Node ")):
            continue
        direction = 1 if line.startswith("\t") else 0
        out[current][direction ^ swapped] += bytes.fromhex(line.strip())
    return out


def dump_direction(args, data):
    """weft-dump --json of one direction: (frames, error line or None)."""
    result = run([args.dump, "--json", "--preview", "1000000000", "-"], input=bytes(data))
    frames = []
    for line in result.stdout.decode().splitlines():
        frames.append(json.loads(line))
    error = None
    if result.returncode == 1:
        error = result.stderr.decode().strip().splitlines()[-1]
    elif result.returncode != 0:
        sys.exit("weft-dump failed: " + result.stderr.decode(errors="replace"))
    return frames, error



def flatten(node, out, prefix="weft."):
    """Every field named `prefix`... of an item, at any depth (first value wins)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.startswith(prefix) and not isinstance(value, (dict, list)):
                out.setdefault(key, value)
            flatten(value, out, prefix)
    elif isinstance(node, list):
        for value in node:
            flatten(value, out, prefix)
    return out


def dissected(args):
    """Per (stream, direction): the dissector's frame items in order."""
    result = run(tshark_base(args) + ["-T", "json", "--no-duplicate-keys", "-J", "tcp weft"])
    if result.returncode != 0:
        sys.exit("tshark failed: " + result.stderr.decode(errors="replace"))
    packets = json.loads(result.stdout.decode())
    first_port = {}
    items = {}
    ended = set()  # (stream, direction) whose sender's FIN or RST is in the capture
    for packet in packets:
        layers = packet["_source"]["layers"]
        tcp = layers.get("tcp")
        if tcp is None:
            continue
        stream = int(tcp["tcp.stream"])
        src = int(tcp["tcp.srcport"])
        first_port.setdefault(stream, src)
        if args.decode_port:  # the side that opened the connection: not the server's port
            direction = 1 if src == args.decode_port else 0
        else:  # the side that sent the first packet
            direction = 0 if src == first_port[stream] else 1
        flags = flatten(tcp, {}, "tcp.flags.")
        if flags.get("tcp.flags.fin") in ("1", "True") or \
                flags.get("tcp.flags.reset") in ("1", "True"):
            ended.add((stream, direction))
        weft = layers.get("weft")
        if weft is None:
            continue
        for item in weft if isinstance(weft, list) else [weft]:
            items.setdefault((stream, direction), []).append(flatten(item, {}))
    return first_port, items, ended


HEX64 = {"route", "incarnation", "stream_key"}
TEXT = {"op", "status", "name", "peer_name"}


def expected_fields(frame):
    """weft-dump's frame as (field, value) pairs in the dissector's terms."""
    out = {}
    for key, value in frame.items():
        if key == "payload_truncated":
            continue
        if key == "payload_hex":
            out["weft.payload"] = value
        elif key == "cksum":
            out["weft.cksum"] = bool(value)
        elif key == "nonce" or key in HEX64 or key in TEXT:
            out["weft." + key] = str(value).lower() if key not in TEXT else value
        else:
            out["weft." + key] = int(value)
    return out


def shown_fields(item, expected):
    """The dissector's values of the fields `expected` names, normalized the same way."""
    out = {}
    for key in expected:
        value = item.get(key)
        if key == "weft.payload":
            out[key] = (value or "").replace(":", "")
        elif key == "weft.cksum":
            out[key] = value in ("1", "True", "true")
        elif value is None:
            out[key] = None
        elif key == "weft.nonce":
            out[key] = value.replace(":", "").lower()
        elif key[5:] in HEX64:
            out[key] = value.lower()
        elif key[5:] in TEXT:
            out[key] = value
        else:
            out[key] = int(value, 0)
    return out


def compare_direction(label, dump_frames, dump_error, items, expect, problems,
                      allow_checksum_missing=False):
    frames = [i for i in items
              if not any(k in i for k in ("weft.error", "weft.after_error", "weft.skipped"))]
    errors = [i for i in items if "weft.error" in i]
    if allow_checksum_missing and errors and errors[0]["weft.error"] == "checksum_missing":
        # Where weft-dump decoded a frame without a checksum (at the flags byte before the
        # offset flagged), the dissector may know that the handshake asked for one.
        at = int(errors[0]["weft.error_offset"])
        cut = [i for i, frame in enumerate(dump_frames) if frame["stream_offset"] == at - 1]
        if cut and not dump_frames[cut[0]]["cksum"]:
            dump_frames = dump_frames[:cut[0] + 1]
            expect = "error at byte %d: checksum_missing" % at
    want_error = expect or dump_error
    if expect and "checksum_missing" in expect:
        # weft-dump took that frame as valid; the dissector must flag it instead.
        dump_frames = dump_frames[:-1] if dump_frames else dump_frames
    if len(frames) != len(dump_frames):
        problems.append("%s: the dissector shows %d frames, weft-dump %d" %
                        (label, len(frames), len(dump_frames)))
    for index, (item, frame) in enumerate(zip(frames, dump_frames)):
        want = expected_fields(frame)
        got = shown_fields(item, want)
        for key in want:
            if got[key] != want[key]:
                problems.append("%s frame %d (%s): %s is %r, weft-dump says %r" %
                                (label, index, frame.get("op"), key, got[key], want[key]))
        # Every checksum verified (the preference is set above every frame's size).
        status = item.get("weft.checksum_status")
        if frame["cksum"] and status != "good":
            problems.append("%s frame %d (%s): checksum status %r" %
                            (label, index, frame.get("op"), status))
    if want_error is None:
        if errors:
            problems.append("%s: the dissector flags %s at %s, weft-dump no error" %
                            (label, errors[0]["weft.error"], errors[0]["weft.error_offset"]))
        return
    match = re.match(r"error at byte (\d+): ([a-z_]+)", want_error)
    if not errors:
        problems.append("%s: the dissector flags nothing, expected %s" % (label, want_error))
        return
    got = (int(errors[0]["weft.error_offset"]), errors[0]["weft.error"])
    if got != (int(match.group(1)), match.group(2)):
        problems.append("%s: the dissector flags %s at %d, expected %s" %
                        (label, got[1], got[0], want_error))
    if dump_error and "checksum_missing" not in want_error:
        dump_text = dump_error.split(": ", 2)[-1]
        if errors[0].get("weft.error_text") != dump_text:
            problems.append("%s: error detail %r, weft-dump %r" %
                            (label, errors[0].get("weft.error_text"), dump_text))


def after_cut(frames, error, cut):
    """weft-dump's view of a whole stream as the dissector sees it from byte `cut` on: the
    frames that start there or later, offsets counted from there."""
    kept = []
    for frame in frames:
        if frame["stream_offset"] >= cut:
            frame["stream_offset"] -= cut
            kept.append(frame)
    if error:
        match = re.match(r"error at byte (\d+): (.*)$", error)
        error = "error at byte %d: %s" % (int(match.group(1)) - cut, match.group(2))
    return kept, error


def read_table(path):
    out = {}
    if path:
        with open(path, encoding="utf-8") as table:
            for line in table:
                parts = line.rstrip("\n").split(" ", 2)
                if len(parts) == 3:
                    out[(int(parts[0]), int(parts[1]))] = parts[2]
    return out


def main():
    parser = argparse.ArgumentParser()
    for name in ("--tshark", "--lua", "--dump", "--pcap"):
        parser.add_argument(name, required=True)
    parser.add_argument("--decode-port", type=int, default=0)
    parser.add_argument("--expect")
    parser.add_argument("--originals")
    parser.add_argument("--min-frames", type=int, default=1)
    parser.add_argument("--two-pass", action="store_true")
    parser.add_argument("--absolute-seq", action="store_true")
    parser.add_argument("--cut", type=int, default=0)
    parser.add_argument("--allow-checksum-missing", action="store_true")
    args = parser.parse_args()
    expects = read_table(args.expect)
    originals = read_table(args.originals)

    first_port, items, ended = dissected(args)
    streams = sorted(first_port)
    directions = stream_directions(args, streams)
    problems = []
    total = 0
    checked = 0
    ops = set()
    for stream in streams:
        for direction in (0, 1):
            data = directions.get(stream, [b"", b""])[direction]
            label = "stream %d direction %d" % (stream, direction)
            original = originals.get((stream, direction))
            whole = bytes(data)
            if original is not None:
                with open(original, "rb") as source:
                    whole = source.read()
                if whole[args.cut:] != bytes(data):
                    problems.append("%s: the pcap's bytes differ from %s" % (label, original))
            if not data:
                continue
            dump_frames, dump_error = dump_direction(args, whole)
            if args.cut:
                dump_frames, dump_error = after_cut(dump_frames, dump_error, args.cut)
            if dump_error and ": truncated:" in dump_error and (stream, direction) not in ended:
                dump_error = None  # the capture stops inside a frame, before the stream's end
            compare_direction(label, dump_frames, dump_error, items.get((stream, direction), []),
                              expects.get((stream, direction)), problems,
                              args.allow_checksum_missing)
            total += len(dump_frames)
            ops.update(frame["op"] for frame in dump_frames)
            checked += 1
    for problem in problems[:50]:
        print("DIFF " + problem)
    print("dissector_compare: %d streams, %d directions, %d frames of %d ops compared, "
          "%d differences" % (len(streams), checked, total, len(ops), len(problems)))
    if total < args.min_frames:
        print("dissector_compare: expected at least %d frames" % args.min_frames)
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
