// Settings of a node and its connections. Every limit the core enforces is a field here,
// with the default the project recommends.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "weft/auth.hpp"
#include "weft/object.hpp"
#include "weft/wire.hpp"

namespace weft {

// The most a response frame's prefix, header and checksum add to its payload: responses
// queued may pass ConnectionLimits::max_queued_response_bytes by this much (the header of the
// last one queued).
inline constexpr std::size_t kResponseFrameOverheadBytes = 64;

// Limits of one connection (per peer).
struct ConnectionLimits {
  // Largest frame body this node accepts; announced in the handshake (>= 65536).
  std::uint32_t max_frame_bytes = 8 * 1024 * 1024;
  // Requests this node may have in flight to one peer (at most 1048576).
  std::uint32_t max_outbound_requests = 65536;
  // Requests from one peer being served at once; more are answered "busy" (at most
  // 1048576).
  std::uint32_t max_inbound_requests = 65536;
  // Bytes of data frames (requests, responses, stream frames) waiting in the lanes, not yet
  // committed to the transport's output buffer. A request whose payload would take them (all
  // kinds together) past it fails with queue_full, unless the lanes are empty: one request of
  // any size up to max_message_bytes is always taken then. Responses are not refused by this
  // limit but by max_queued_response_bytes.
  std::size_t max_queued_bytes = 32 * 1024 * 1024;
  // Bytes of responses (and error answers) to one peer waiting in the lanes, not yet
  // committed to the transport's output buffer: what a peer that asks and does not read its
  // answers can make this node hold. A response whose payload would take them past it is not
  // queued: the caller receives busy instead and respond() returns queue_full (the frame
  // header of the last one queued may take the count up to kResponseFrameOverheadBytes
  // past). At least max_message_bytes, so any response fits when nothing waits.
  std::size_t max_queued_response_bytes = 64 * 1024 * 1024;
  // Bytes held for one peer's requests: the payloads of requests accepted and not yet
  // answered or ended (arriving in parts, counted by the size the first part announces, or
  // handed to the application, which holds them until it answers) plus the responses queued
  // (max_queued_response_bytes). A request that would take it past is answered busy at
  // once, before the application sees it: once a peer's unread answers fill the budget, it
  // gets no new work done. At least max_message_bytes.
  std::size_t max_inbound_request_bytes = 64 * 1024 * 1024;
  // Control frames waiting (pong, cancel, error answers, stream credits). A peer that keeps
  // sending while not reading drives this up; past the limit the connection is closed.
  // Pongs and credits add up instead of queueing (one pong, one credit per stream at most).
  std::size_t max_control_frames = 65536;
  // The output buffer is filled from the lanes while it holds fewer bytes than this.
  std::size_t output_high_water_bytes = 64 * 1024;
  // A payload part at least this long that the core holds by reference (a shared payload's
  // later parts, an object's data) is written from where it lies rather than copied into
  // the output: the driver gets it as a piece of its own (Node::pending_output_pieces, one
  // writev with the frame heads around it). 0: every such part by reference. Off by
  // default (SIZE_MAX): on loopback the kernel copies a payload from where it lies no
  // faster than from the small output buffer the core copied it into, and 1 MiB requests
  // went ~10 % slower (bench/README.md, "Writes from the shared payload").
  std::size_t output_reference_min_bytes = SIZE_MAX;
  // Frames up to this size travel in the small data lane; larger ones in the bulk lane,
  // so one large payload cannot hold up many small ones.
  std::size_t small_frame_bytes = 16 * 1024;
  // The small lane may send this many bytes in a row while bulk frames wait.
  std::size_t small_lane_burst_bytes = 64 * 1024;
  // Request and response payloads longer than this go out as a first part and
  // continuation frames of at most this size, which small frames can pass between.
  std::size_t chunk_bytes = 32 * 1024;
  // Largest request or response payload this node sends or accepts (assembled).
  std::size_t max_message_bytes = 64 * 1024 * 1024;
  // Bytes of partly received payloads held at once on one connection, counted by the size
  // each announces with its first part (what a payload in parts must be able to grow to).
  std::size_t max_assembly_bytes = 256 * 1024 * 1024;
  // Longest subroute string.
  std::size_t max_route_bytes = 255;
  // Streams open on one connection, both directions together; more are refused (busy). At
  // most 1048576.
  std::uint32_t max_streams = 4096;
  // Sum of the receive windows (bytes) this node grants on one connection's streams: the
  // message bytes its stream inboxes can ever hold (a message arriving in parts grows its
  // buffer by doubling, so its allocation may reach twice its size while it is assembled),
  // plus the initial payloads of the streams the peer opened, each charged until its stream
  // ends. A stream whose window and initial payload would pass it is refused. Small
  // messages are copied into blocks the size of their stream's window rounded up to a
  // power of two (1 KiB at least, 64 KiB at most), so each stream holds besides at most a
  // partly used block and a spare one (StreamCredits::unread_memory_bytes).
  std::uint64_t max_stream_receive_bytes = 256ull * 1024 * 1024;

  // ---- object streams (PROTOCOL.md §6.3) ----
  // Object streams to and from one peer, each direction counted on its own: opening one
  // more fails with queue_full (PeerConnection::open_object_stream); a peer opening one
  // more is refused busy.
  std::uint32_t max_object_streams = 1024;
  // Objects posted on one stream and not completed (the burst): one more is refused with
  // queue_full.
  std::uint32_t max_objects_in_flight = 1024;
  // Largest encoded object header (the payload of object_begin) this node posts; at most
  // kMaxObjectHeaderBytes (64512), which is what every receiver accepts.
  std::uint32_t max_object_header_bytes = kMaxObjectHeaderBytes;
  // Object data goes out in object_data frames of at most this many bytes, between which
  // every other frame passes (rule 7 of the design).
  std::size_t object_chunk_bytes = 64 * 1024;
  // Sum of the byte windows this node grants to one peer's object streams: what their
  // objects can make it hold. A stream that would pass it is refused busy.
  std::uint64_t max_object_receive_bytes = 256ull * 1024 * 1024;
  // In-memory object data (ObjectArgs::data) this node keeps references to for one peer,
  // until the objects complete: posting past it fails with queue_full.
  std::uint64_t max_object_held_bytes = 1ull << 30;
  // Data supplied with object_supply and not sent yet, per stream: a supply past it
  // returns no_credit, and event::ObjectWantData asks again when there is room.
  std::size_t object_supply_buffer_bytes = 256 * 1024;
  // Results of finished objects a receiver remembers per stream, to acknowledge them again
  // when the sender resumes without having seen their object_ack. At least
  // max_objects_in_flight of the sending peer keeps every resume possible.
  std::uint32_t object_results_kept = 1024;
};

// The longest any timeout of ConnectionTimeouts may be (49 days); Node refuses more, and
// dead_after_pings over 1000.
inline constexpr std::int64_t kMaxTimeoutMs = 4'294'967'295;

// Timers of a connection, all in milliseconds.
struct ConnectionTimeouts {
  // The dialer's handshake (connected to welcome) must finish within this.
  std::int64_t handshake_timeout_ms = 10'000;
  // An accepted transport must deliver its side of the handshake (the hello, then the auth
  // that answers the challenge) within this, counted once from the accept. Shorter than
  // the dialer's wait: a connection that says nothing costs this node a file descriptor,
  // and anyone can open one.
  std::int64_t hello_timeout_ms = 2'000;
  // A dial the node asked for must report connected within this.
  std::int64_t connect_timeout_ms = 5'000;
  // Connection ping interval; a peer from which no whole frame arrived for dead_after_pings
  // intervals is dead (bytes of a frame that never completes do not count).
  std::int64_t ping_interval_ms = 10'000;
  std::int64_t dead_after_pings = 2;
  // Deadline of a request that names none.
  std::int64_t default_request_timeout_ms = 60'000;
  // Reconnect backoff: initial delay, doubling up to the maximum, each draw spread by
  // +/- jitter_fraction.
  std::int64_t backoff_initial_ms = 100;
  std::int64_t backoff_max_ms = 5'000;
  double backoff_jitter_fraction = 0.2;
  // Largest difference between the two sides' wall clocks a handshake accepts.
  std::int64_t max_clock_skew_ms = 5 * 60 * 1000;
  // The opener of a stream pings it this often and fails it after stream_silence_timeout_ms
  // without any frame for it; the serving side drops a stream not pinged for
  // stream_idle_timeout_ms. Only while a direction is open (or this side's frames for it
  // still wait to be written): once both ended, the stream waits for its reader, bounded by
  // its deadline alone (PROTOCOL.md §6.2).
  std::int64_t stream_ping_interval_ms = 15'000;
  std::int64_t stream_silence_timeout_ms = 30'000;
  std::int64_t stream_idle_timeout_ms = 60'000;
  // An object stream with nothing in flight closes its mux after this long; the next
  // object opens a new one (nothing is lost or reordered across it).
  std::int64_t object_idle_timeout_ms = 4'000;
  // How long both sides keep an object stream's state while the connection is down, for a
  // reconnect to resume it. Past it the sender completes the stream's objects with
  // disconnected and the receiver forgets the stream.
  std::int64_t object_resume_timeout_ms = 30'000;
  // NodeConfig::connect_on_demand: a connection that carried nothing for this long (no
  // request, answer, stream or object frame either way, and nothing in flight: calls,
  // streams, objects unacknowledged, object streams whose state either side holds) is
  // closed with goaway(idle) (PROTOCOL.md §4.6). Keepalive pings do not count as use. Best
  // above object_idle_timeout_ms, which closes an object stream's mux first.
  std::int64_t idle_close_ms = 30'000;
};

// A bug planted on purpose, to show the simulator's oracle catches it (docs/SIMULATION.md).
// Only builds with the CMake option WEFT_CANARIES (on when tests are built) compile them
// in; elsewhere NodeConfig::canary is ignored. Never set outside tests.
enum class Canary : std::uint8_t {
  none,
  // The reader stops while the output is above its high-water mark: input that only needs
  // a pong or a credit waits for outbound space (MinIO grid PR 19964's deadlock).
  reader_waits_for_output,
  // A stream returns one credit more than it consumed.
  credit_off_by_one,
  // Frames still queued when a connection drops go out on the next connection.
  old_generation_frames,
  // A finished stream's receive window is never given back to the connection's budget: a
  // slow leak no peer sees for a long time, which the invariant checks (builds with
  // assertions only) catch at the first stream that ends.
  stream_budget_leak,
  // A failure path of the object sender (a give-up after a disconnect, a peer restart, a
  // stop, a rejected open) forgets one object: it leaves without its ObjectCompleted.
  object_lost_completion,
  // A receiver resuming a stream in the middle of an object its application is reading
  // starts that object over: the sender sends it again and it is delivered twice.
  object_duplicate_after_resume,
  // Node::remove_peer forgets one call to the removed peer: it never gets its RequestDone.
  removal_forgets_a_call,
  // A bundle object's completion gives every replica the result of its last replica
  // (AIStore's bundle completion sees only the last replica's error).
  bundle_last_result_only,
  // A connection writes the first half of a large output piece and then nothing more on
  // that transport: its peer holds part of a frame and waits for the rest for ever.
  writer_stalls_mid_frame,
  // Some calls answered ok end with disconnected instead, the connection staying up.
  disconnected_on_live_connection,
  // Some objects (and bundle replicas) the receiver took complete with disconnected instead,
  // the connection staying up.
  object_disconnected_on_live_connection,
};

struct NodeConfig {
  // This node's name: 1..255 bytes of printable ASCII without spaces.
  std::string name;
  // The other nodes of the cluster (not including this one).
  std::vector<std::string> peers;
  // Makes this node's proofs and checks its peers' in handshakes (weft/auth.hpp: a key ring,
  // a shared cluster key, or TLS certificates). Required: there is no default secret.
  std::shared_ptr<const Authenticator> auth;
  // Ask peers to checksum every frame after the handshake (either side asking is enough).
  bool checksums = true;
  // On an encrypted transport (TransportSecurity::encrypted, TLS), ask for checksums too.
  // false (the default): TLS's authenticated encryption already covers every byte, so a
  // connection over TLS runs without checksums unless the peer asks for them.
  bool checksums_when_encrypted = false;
  // Protocol versions this node speaks; only tests change these (to play a node of another
  // version). A node refuses versions before kProtocolVersionMin (the token handshake).
  std::uint16_t version_min = kProtocolVersionMin;
  std::uint16_t version_max = kProtocolVersion;
  // Key of the generator of handshake nonces (a secret: a peer that could predict this
  // node's nonces could replay its old proofs). A real process draws it from the OS
  // (io::EventNode does when it is unset). Unset, it is derived from `seed`, which makes
  // nonces no harder to guess than a 64-bit seed (the incarnation a hello carries is a
  // one-way function of the seed): fine for tests and simulations only. A Node keeps it
  // only in its nonce source, which overwrites it with zeros when the node goes: the copy
  // the Node was given is overwritten and reset (Node::config() shows none). A copy the
  // caller kept, a moved-from NodeConfig included, is the caller's to wipe.
  std::optional<std::array<std::uint8_t, 32>> nonce_key;
  // Seed of the node's random generator (incarnation id, backoff jitter). Required: a Node
  // without one throws std::invalid_argument, so no process can run on a default seed that
  // every other process shares (the same incarnation everywhere, reconnect storms in step).
  // A real process draws it from the OS (io::EventNode does when it is unset); tests and
  // simulations fix it to replay a run.
  std::optional<std::uint64_t> seed;
  // Accepted transports in their handshake at once (waiting for their hello, or for their
  // auth after the challenge); one more takes the place of another, which is closed (the
  // driver gets its CloseTransport from on_accepted): one without a verified TLS
  // certificate (of all, if each has one) whose source (below) holds the most places, the
  // new one counted; of those, the oldest that showed least (nothing, then a hello, then a
  // verified TLS certificate). So a flood from addresses that each hold more places than a
  // peer's loses its own first, whatever hellos it sent; nodes that share an address (a
  // host, a NAT) hold more places than one, and a verified certificate is what keeps theirs
  // from a flood of many addresses. A few times the number of peers is plenty: a peer has
  // one connection, and redials only after its backoff.
  std::size_t max_transports_awaiting_hello = 256;
  // Of those, how many may come from one source (the driver names a transport's source in
  // on_accepted: io::EventNode its IPv4 address). One more from that source takes the place
  // of that source's oldest that showed least. So one address that reopens connections
  // faster than other peers' handshakes finish churns its own places, not theirs (above
  // the cap above, this one never acts). Nodes behind one address (several on a host,
  // a NAT) dial each peer once each: a few times their number is plenty.
  std::size_t max_transports_awaiting_hello_per_source = 64;
  // Events waiting to be polled before accepting_input() turns false.
  std::size_t max_pending_events = 1 << 20;
  // Memory of payload vectors handed back with Node::recycle_payload that the node keeps
  // to fill later RequestReceived and RequestDone payloads: their capacity plus the list of
  // them, which holds at most one vector per 256 bytes of this budget. A vector that would
  // pass it is freed. 0 keeps none.
  std::size_t payload_pool_bytes = 256 * 1024;
  // Bundles open at once (Node::open_bundle), and object streams per destination each may
  // hold (BundleConfig::multiplier).
  std::size_t max_bundles = 256;
  std::uint32_t max_bundle_multiplier = 32;
  // Connections on demand (PROTOCOL.md §4.7), for large clusters where most pairs rarely
  // talk. false (the default): every connection is kept up all the time, the dialer
  // redialing whenever it drops. true: no connection is opened until there is work for the
  // peer - a request, a stream, an object posted - and one that stays idle for
  // timeouts.idle_close_ms is closed. When the dial rule says the peer dials, this side
  // knocks (a hello the peer refuses wrong_dialer, upon which an on-demand peer dials back).
  // Requests made while the connection comes up wait for it (see PeerConnection::request);
  // streams do not (open_stream returns disconnected and starts the connection). Each
  // request keeps its payload until it ends, to send it again if the peer's goaway(idle)
  // crosses it: up to max_outbound_requests payloads, each up to max_message_bytes (a shared
  // payload is kept by reference, a borrowed one copied once). Give every
  // node of a cluster the same mode: an always-on dialer redials a peer that closed idle.
  // Node::add_peer may set another mode for the peer it adds.
  bool connect_on_demand = false;
  ConnectionLimits limits;
  ConnectionTimeouts timeouts;
  // Tests only: see Canary.
  Canary canary = Canary::none;
};

// Why a node named `own_name` cannot take `peer` as a peer, or "" when it can: `peer` is not
// a node name, is `own_name`, or (`listed_already`, which the caller knows) the node lists
// it already. The one rule of NodeConfig::peers (Node's constructor throws with this text),
// Node::add_peer and EventNode::add_peer. The text is static: a predicate ("is listed
// already") written after the peer's name in the errors and log lines of the three.
std::string_view peer_name_refusal(std::string_view own_name, std::string_view peer,
                                   bool listed_already);

}  // namespace weft
