"""Writes the test vectors of docs/PROTOCOL.md §10 as byte streams, one TCP connection
each, for dissector_check.sh:

  protocol_vectors.py PROTOCOL.md OUTDIR [--mutants N SEED]

- §10.1: a connection per vector: the frame without a checksum, then with one;
- §10.2: a connection per error vector: the hello and the auth of §10.1 with checksums,
  then the bytes after `after-auth:`; OUTDIR/expect.txt gets "STREAM 0 <its error: line>";
- §10.3: the compressed-stream vector (its frames decode; the error is the receiver's).

With --mutants, writes instead N streams, each a vector above with 1 to 4 random edits
(a byte replaced, a bit flipped, bytes cut out or put in), drawn from SEED: the same
streams for the same seed.

Prints the connections' files, one per line, in stream order (the argument list of
weft_wire_to_pcap). Exit status 1 when the document has fewer vectors than expected.
"""

import os
import random
import re
import sys


def hex_blocks(lines, start_label):
    """Blocks of hex that start on a line `start_label:` and continue on indented lines."""
    blocks = []
    current = None
    for line in lines:
        match = re.match(r"^(\S[^:]*):\s*(.*)$", line)
        if match:
            current = None
            if match.group(1) == start_label:
                current = bytearray(bytes.fromhex(match.group(2)))
                blocks.append(current)
        elif current is not None and re.match(r"^\s+[0-9a-f ]+$", line):
            current += bytes.fromhex(line.strip())
        else:
            current = None
    return blocks


def mutate(sources, out_dir, count, seed):
    """`count` streams, each a copy of one of `sources` with 1 to 4 random edits."""
    generator = random.Random(seed)
    paths = []
    for index in range(count):
        with open(generator.choice(sources), "rb") as source:
            data = bytearray(source.read())
        for _ in range(generator.randint(1, 4)):
            at = generator.randrange(len(data))
            kind = generator.random()
            if kind < 0.5:
                data[at] = generator.randrange(256)
            elif kind < 0.7:
                data[at] ^= 1 << generator.randrange(8)
            elif kind < 0.85:
                del data[at:at + generator.randint(1, 8)]
            else:
                data[at:at] = bytes(generator.randrange(256)
                                    for _ in range(generator.randint(1, 8)))
        path = os.path.join(out_dir, "mutant-%03d.wire" % index)
        with open(path, "wb") as sink:
            sink.write(bytes(data))
        paths.append(path)
    return paths


def section(text, title, next_title):
    begin = text.index(title)
    end = text.index(next_title, begin)
    return text[begin:end].splitlines()


def main():
    doc, out_dir = sys.argv[1], sys.argv[2]
    with open(doc, encoding="utf-8") as source:
        text = source.read()
    frames = section(text, "### 10.1 Frames", "### 10.2")
    errors = section(text, "### 10.2 Error vectors", "### 10.3")
    compressed = section(text, "### 10.3 Compressed-stream vectors", "### 10.4")

    files = []
    expect = []

    def add(data):
        path = os.path.join(out_dir, "vector-%03d.wire" % len(files))
        with open(path, "wb") as sink:
            sink.write(bytes(data))
        files.append(path)

    # §10.1: each vector's two encodings (without, with checksum) in order.
    vectors = {}
    name = None
    for line in frames:
        heading = re.match(r"^#### (\S+)", line)
        if heading:
            name = heading.group(1)
            vectors[name] = []
    for name in vectors:
        begin = frames.index("#### " + name)
        rest = frames[begin + 1:]
        stop = next((i for i, l in enumerate(rest) if l.startswith("#### ")), len(rest))
        vectors[name] = hex_blocks(rest[:stop], "hex")
    for name, blocks in vectors.items():
        if len(blocks) != 2:
            sys.exit("vector %s: %d encodings, expected 2" % (name, len(blocks)))
        add(blocks[0] + blocks[1])
    hello, auth = vectors["hello"][1], vectors["auth"][1]

    # §10.2: hello and auth with checksums, the bytes after, and the error expected.
    after = hex_blocks(errors, "after-auth")
    wanted = [l.split(":", 1)[1].strip() for l in errors if l.startswith("error:")]
    if len(after) != len(wanted) or len(after) < 20:
        sys.exit("§10.2: %d byte blocks and %d errors" % (len(after), len(wanted)))
    for data, error in zip(after, wanted):
        expect.append("%d 0 %s" % (len(files), error))
        add(hello + auth + data)

    # §10.3: a whole dialer stream.
    streams = hex_blocks(compressed, "stream")
    if len(streams) != 1:
        sys.exit("§10.3: %d streams, expected 1" % len(streams))
    add(streams[0])

    if len(vectors) < 35:
        sys.exit("§10.1: only %d vectors" % len(vectors))
    if len(sys.argv) == 6 and sys.argv[3] == "--mutants":
        files = mutate(files, out_dir, int(sys.argv[4]), int(sys.argv[5]))
        expect = []
    with open(os.path.join(out_dir, "expect.txt"), "w", encoding="utf-8") as sink:
        sink.write("\n".join(expect) + "\n")
    print("\n".join(files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
