/**
 * The commented example printed by `sakimori config example`: every key, what
 * it does, and its default. This is the only place the example text lives;
 * example.test.ts checks it against the schema (every key present and
 * commented, parses clean, equals the defaults).
 *
 * Convention: prose comments are "# text"; a key shown but left unset (its
 * default is computed, like node.name) is "#key: value", with no space, so
 * the test can find it.
 */
import { PURPOSE_NAMES, PURPOSES } from '../core/purpose.ts';
import { DEFAULT_RETENTION } from './sections/privacy.ts';

function retentionLines(): string {
  return PURPOSE_NAMES.map((p) => `    # ${PURPOSES[p]}\n    ${p}: ${DEFAULT_RETENTION[p]}`).join('\n');
}

/** The detect: block, under dns: (the firewall) and under dnstap: (the collector). */
function detectLines(prsdMode: 'on' | 'dry-run', where: string): string {
  return `  detect:
    # DNS abuse detection (R4 R5 R6) on ${where}: random-subdomain
    # ("water torture") attacks per zone, names abused for amplification, and
    # infected subscribers' evidence (C&C lookups, NXDOMAIN bursts, DGA-like
    # names). Detections are listed by \`sakimori dns detections\`, the API
    # (GET /api/v1/dns/detections) and the console, and go to the cases
    # pipeline as Observations. Only short sliding windows are kept (R16).
    prsd:
      # Random-subdomain attacks: "on" answers the attacked zone's random
      # children locally (names that resolved before the attack and the
      # never-block list keep resolving); "dry-run" only reports what would
      # have been blocked; "off".${prsdMode === 'dry-run' ? ' The collector has no data plane to\n      # mitigate in, so its "on" also only reports.' : ''} Default: ${prsdMode}
      mode: ${prsdMode}
      # Queries per second for one zone before it can be under attack. Default: 100
      minQps: 100
      # Failed answers (NXDOMAIN, SERVFAIL, no answer) per second. Default: 50
      minFailQps: 50
      # Distinct failed names per second (random children). Default: 50
      minDistinctQps: 50
      # How random children are answered: nxdomain, nodata or drop. Default: nxdomain
      action: nxdomain
      # A mitigation ends this long after the attack was last seen. Default: 5m
      hold: 5m
    amplification:
      # Names whose large answers are asked for at a high rate from many
      # sources: "propose" lists them for review, "apply" puts them into the
      # dns-abuse zone at once (behind the never-block list), "off". Default: propose
      mode: propose
      # Large answers per second for one name. Default: 20
      minQps: 20
      # Distinct client addresses asking for it. Default: 20
      minSources: 20
      # An answer of at least this many bytes counts as large. Default: 1000
      minBytes: 1000
      # The RPZ action for such a name: tcp-only (spoofed UDP gets a small
      # truncated reply, real clients retry over TCP), drop or nxdomain. Default: tcp-only
      action: tcp-only
      # An entry stays this long after the abuse was last seen. Default: 1h
      hold: 1h
    infection:
      # Infected-client evidence: "on" emits one suspected-infection
      # Observation per client (a summary, never the query log) for the cases
      # pipeline; "off". Default: on
      mode: on
      # The evidence score that makes a report (4 per C&C-listed name, 0.35
      # per NXDOMAIN domain, up to 1 more per DGA-like one). Default: 8
      threshold: 8
      # How long a client's evidence is kept, then forgotten. Default: 10m
      window: 10m
      # A client reported once is not reported again for this long. Default: 24h
      cooldown: 24h
    # Ended detections are kept this long (in memory and in the store). Default: 7d
    retention: 7d
    # Events one detector looks at per second; past it, it samples (a flood
    # never makes detection the bottleneck). Default: 250000
    maxEventsPerSecond: 250000`;
}

export function exampleConfigYaml(): string {
  return `# Sakimori configuration. Every key is shown with its default; a key you leave
# out keeps its default, and a file with nothing in it runs on the defaults.
# Use it with: sakimori start --config FILE (or name it ./sakimori.yaml).
# Check a file with: sakimori config check FILE
#
# Durations are a number and a unit: ms, s, m, h, d or w ("200ms", "90s", "36h", "30d").

node:
  # This node's name in logs and in the observations it reports.
  # Default: the machine's hostname.
  #name: tokyo-resolver-1

http:
  # Where the HTTP API and operator console listen, as ADDR:PORT. IPv6 goes in
  # brackets: "[::1]:8080". Use 0.0.0.0:8080 to listen on every interface.
  # Default: 127.0.0.1:8080 (this machine only).
  listen: 127.0.0.1:8080
  # Behind a reverse proxy (nginx, a load balancer): whose X-Forwarded-For
  # header to believe, so the portal's rate limits and the audit log see the
  # subscriber's or operator's address rather than the proxy's. One of:
  #   false                          nobody: the address connecting is the client
  #   true                           every hop (only if the proxy overwrites the header)
  #   1                              this many proxy hops in front of Sakimori (only
  #                                  if clients cannot reach Sakimori but through them:
  #                                  a count cannot tell a proxy from a forger)
  #   ["127.0.0.1", "10.0.0.0/8"]    the proxies' addresses or prefixes (also loopback,
  #                                  linklocal, uniquelocal)
  # Default: false.
  trustProxy: false

store:
  # Where Sakimori keeps its state.
  #   sqlite:PATH               one file, no database server (PATH is relative to the working directory)
  #   postgres://USER@HOST/DB   PostgreSQL, for several nodes or a large ISP (postgresql:// also works)
  # Default: sqlite:./data/sakimori.db
  url: sqlite:./data/sakimori.db

bus:
  # How the parts of Sakimori pass events to each other.
  #   "memory:"          in-process, for a single node (quoted: YAML reads a bare trailing ":" as a key)
  #   nats://HOST:PORT   NATS JetStream, to spread work over processes or machines
  # Default: "memory:"
  url: "memory:"

log:
  # How much to log: fatal, error, warn, info, debug or trace.
  # Default: info
  level: info

privacy:
  # How long records are kept, per purpose (R16). Every record of communication
  # data is written for exactly one purpose, read only for it, and purged when
  # its retention ends. The purposes are a closed list (src/core/purpose.ts);
  # the values below are the defaults. A purpose you leave out keeps its default.
  retention:
${retentionLines()}
  # How often records past their retention are purged. Default: 1h
  purgeInterval: 1h
  # How long the hash-chained audit log may buffer entries before writing them
  # to the store; 0ms writes each entry at once. Default: 200ms
  auditFlushInterval: 200ms

notify:
  # Send notices to subscribers by e-mail on their own (every notify.interval).
  # false: cases still open and collect evidence, and \`sakimori cases notify\`
  # sends what is due. Default: true
  enabled: true
  smtp:
    # The SMTP server notices are handed to (the ISP's relay). Default: 127.0.0.1
    host: 127.0.0.1
    # Its port: 25 for a relay, 587 for submission, 465 for implicit TLS. Default: 25
    port: 25
    # The sender of every notice, as subscribers see it.
    # Default: "Sakimori <sakimori@localhost>"
    from: "Sakimori <sakimori@localhost>"
    # true: TLS from the first byte (port 465). false: STARTTLS when the server
    # offers it. Default: false
    secure: false
    # A user name, if the server wants a login; "" for none. Default: ""
    user: ""
    # A file holding the password for that user (kept out of this file). Default: ""
    passwordFile: ""
  # Where the subscriber portal is reached: each notice links to
  # {portalUrl}/n/{token}, a link only that subscriber gets.
  # Default: http://127.0.0.1:8080
  portalUrl: http://127.0.0.1:8080
  # The ISP name shown in the subject and signature of notices. Default: Sakimori
  organization: Sakimori
  # At most one notice per subscriber in this time; what is found meanwhile
  # waits for the next one. Default: 24h
  cooldown: 24h
  # How long a new case waits before its notice goes, so that findings of the
  # same report or of other classes go in the same mail. Default: 10m
  batchWindow: 10m
  # How often due notices are looked for. Default: 1m
  interval: 1m
  # How long to wait before trying again when a notice could not be sent. Default: 1h
  retryInterval: 1h

cases:
  # The ISP's own address space. A finding for an address outside it is kept
  # as "not our address space" and not looked up. Empty: every address is
  # looked up. Example: ["192.0.2.0/24", "2001:db8::/32"]. Default: []
  addressSpace: []

attribution:
  # How far past a session's start and end a look-up still counts it, for clock
  # differences between the NAS and whoever reported the address and time. A
  # time within this of two subscribers' sessions is reported as ambiguous.
  # Default: 2s
  clockSkew: 2s
  radius:
    # Where the RADIUS accounting server (RFC 2866) listens, as ADDR:PORT. It is
    # started only when clients are listed below. Default: 127.0.0.1:1813
    listen: 127.0.0.1:1813
    # The NASes allowed to send accounting, each with its shared secret; an
    # address may be a prefix for a pool of NASes. For example:
    #   clients:
    #     - address: 192.0.2.10
    #       secret: "the-shared-secret"
    # Default: [] (none: the listener is not started)
    clients: []

dns:
  # Run the DNS firewall (R1, R4) and its warning page with \`sakimori start\`.
  # Default: true
  enabled: true
  # Where the firewall answers DNS, UDP and TCP, as a list of ADDR:PORT; IPv6
  # in brackets. In production: port 53 on the resolver addresses subscribers
  # use. Default: ["127.0.0.1:5353"]
  listen: ["127.0.0.1:5353"]
  # Listeners answered without any filtering: the "use another resolver"
  # opt-out (R1) that subscribers are told about. Default: [] (none)
  unfilteredListen: []
  # The recursive resolvers queries are forwarded to, in order of preference:
  # the first one that answers gets every query; the next takes over when it
  # stops answering. Default: [] (the first nameserver of /etc/resolv.conf when
  # it is a loopback address; otherwise the firewall is not started)
  upstreams: []
  # How long the last try of a query waits for an answer (then the client gets
  # SERVFAIL), and the most the first try waits: that one waits the upstream's
  # retransmission time-out, from its measured round trips (50ms at least), then
  # the query goes to the next upstream. Default: 1500ms
  upstreamTimeout: 1500ms
  # Timeouts in a row after which an upstream is marked down (and probed until
  # it answers again). Default: 3
  upstreamDownAfter: 3
  # How often an upstream marked down is probed. Default: 1s
  probeInterval: 1s
  # Idle TCP client connections are closed after this (RFC 7766). Default: 10s
  tcpIdleTimeout: 10s
  # Worker threads answering DNS. 0: the main thread answers. N: N threads
  # answer (each its own UDP socket on the port with the udp-batch addon,
  # else shared sockets), reading one copy of the zones the main thread
  # loads, and the store and API never hold a query up. Default: 0
  threads: 0
  # Policy zones, in order of precedence (the first zone that matches decides;
  # the allow list wins over all). kind: cc (C&C, blocked), malware-sites
  # (redirected to the warning page by the zone's local data), dns-abuse (R4,
  # kept under dns-abuse-mitigation), allow (never blocked). format: rpz (an
  # RPZ master file) or list (one domain a line, covering its subdomains).
  # A file is reloaded when it changes; a file with an error is refused with
  # file:line and the previous version stays. For example:
  # A zone may instead be pulled from a primary (primary: ADDR:PORT, never
  # with file:): loaded by AXFR before DNS is answered (a start waits, logging
  # each failed try, until the primary answers), then kept current by IXFR,
  # applied in place, on NOTIFY and on the SOA refresh/retry timers. When the
  # primary cannot be reached the version in force stays, also past the SOA
  # expire time (logged as expired). With threads > 0 the main thread pulls
  # it and every transfer reaches each thread as one new version. For example:
  #   zones:
  #     - { name: cc.rpz.example.net, file: /var/lib/sakimori/cc.rpz, kind: cc }
  #     - { name: malware.rpz.example.net, primary: "192.0.2.53:53", kind: malware-sites }
  #     - { name: allow, file: /etc/sakimori/never-block.txt, kind: allow, format: list }
  # A zone from a primary may name its own NOTIFY address (notifyListen:
  # ADDR:PORT); else it uses notifyListen below. The primary may be a host
  # name (resolved at start and before each refresh; NOTIFY is taken from its
  # addresses). key: NAME (a key under tsig.keys) signs the transfers with TSIG
  # and requires it on the primary's answers and NOTIFY, e.g.
  #     - { name: cc.rpz.example.net, primary: "192.0.2.53:53", key: xfr-key }
  # Default: [] (no policy: every query is forwarded)
  zones: []
  # Where zones from a primary take its NOTIFY (RFC 1996), over UDP, as
  # ADDR:PORT; NOTIFY from any other address than the zone's primary is
  # refused. "": no listener, zones refresh on their SOA timer only. Default: ""
  notifyListen: ""
  # Where each zone from a primary is copied (ZONE.zone) after every transfer,
  # as a BIND secondary keeps its zone file: a restart while the primary is
  # unreachable serves the copy (logged at warn), keeps retrying, and asks for
  # IXFR from the copy's serial. "": no copies (a restart waits for the
  # primary). Default: ./data/zones
  zoneCopyDir: ./data/zones
  events:
    # How often block events (time, client, FQDN, list, action) are written
    # to the store, in one batch. Default: 1s
    flushInterval: 1s
    # At most this many distinct block events are kept per flush interval
    # (identical lookups are merged into one row with a count); under a flood
    # of distinct names the rest are counted, not kept, so the store never
    # holds the resolver up. Default: 2000
    maxBuffered: 2000
  # At most one observation per client and list in this time is passed to the
  # cases pipeline, so infected subscribers are warned (R1, R5). Default: 5m
  observationInterval: 5m
${detectLines('on', "the firewall's own queries")}
  warningPage:
    # Where the warning page listens, as ADDR:PORT. In production: port 80 on
    # the address the malware-sites zone points lookups to. Default: 127.0.0.1:8081
    listen: 127.0.0.1:8081
    # The ISP name shown on the page. Default: Sakimori
    organization: Sakimori
    # How subscribers reach the ISP, shown on the page. Default: "your ISP's support desk"
    contact: "your ISP's support desk"
    # Where subscribers opt out of DNS protection, linked from the page; "" to
    # only say how (R1). Default: ""
    optOutUrl: ""

web:
  console:
    # The operators allowed into the console (/console/), one per line as
    # "NAME TOKEN" (lines starting with # are comments). Log in with HTTP Basic
    # (user NAME, password TOKEN) or send "Authorization: Bearer TOKEN". When
    # the file is missing, \`sakimori start\` creates it with one operator,
    # "operator", and a random token, and prints where it is. Keep it mode 600.
    # Its directory also holds portal-form-key (created mode 600 at first
    # start): the key of the portal's form tokens, so a form shown before a
    # restart still works after it. Nodes behind one portal address need the
    # same file.
    # Default: ./data/console-tokens
    tokenFile: ./data/console-tokens
  portal:
    # How subscribers reach your support desk, shown on the portal's pages
    # (for example when a link is no longer valid). Default: "" (not shown)
    support: ""

rpz:
  # The RPZ provider: serves the policy zones below to the ISP's own resolvers
  # (BIND, Unbound, PowerDNS) by AXFR and IXFR, and sends them NOTIFY when a zone
  # changes (\`sakimori rpz add\`, or its file edited with a higher serial).
  # Started by \`sakimori start\` only when zones are listed.
  # Where it answers AXFR/IXFR and SOA queries, UDP and TCP. Default: 127.0.0.1:5300
  listen: 127.0.0.1:5300
  # The zones, each from its master file (the file is the source of truth; the
  # store keeps the journal of changes IXFR answers from). For example:
  #   zones:
  #     - name: cc.rpz.example.net
  #       file: /var/lib/sakimori/rpz/cc.zone
  # Default: [] (none: the provider is not started)
  zones: []
  # Secondaries told of every change, as ADDR:PORT, e.g. ["192.0.2.53:53"];
  # { address: ADDR:PORT, key: NAME } signs the NOTIFY with that TSIG key
  # (tsig.keys) and requires the answer signed. Default: []
  notify: []
  # Who may transfer the zones (and query their records), as addresses or
  # prefixes. SOA queries are answered for anyone. { prefix: PREFIX, key: NAME }
  # also requires TSIG with that key (tsig.keys): unsigned or wrongly signed
  # requests from there get NOTAUTH (with BADKEY/BADSIG/BADTIME), logged once
  # per peer and key, e.g. [{ prefix: 192.0.2.53/32, key: xfr-key }]; the
  # longest matching prefix decides. Default: ["127.0.0.0/8", "::1/128"]
  allowTransfer: ["127.0.0.0/8", "::1/128"]
  # How often zone files are checked for changes. Default: 1s
  watchInterval: 1s
  # NOTIFY tries after the first when a secondary does not answer. Default: 5
  notifyRetries: 5
  # The wait before the first retry, doubled for each next one. Default: 1s
  notifyRetryInterval: 1s

dnstap:
  # The dnstap collector: for resolvers that stay BIND or Unbound, their dnstap
  # (Frame Streams, "protobuf:dnstap.Dnstap") feeds the same detectors as
  # Sakimori's own firewall. Only client queries and responses are used, each
  # reduced to time, client, name, type, rcode and size; nothing is stored.
  # Where to accept dnstap: "unix:PATH" for a Unix socket (BIND:
  # dnstap-output unix "PATH"; Unbound: dnstap-socket-path), or "ADDR:PORT" for
  # TCP (Unbound: dnstap-ip). For example ["unix:/run/sakimori/dnstap.sock"].
  # Default: [] (none: the collector is not started)
  listen: []
  # Who may connect over TCP, as addresses or prefixes (a Unix socket is guarded
  # by its file mode). Default: ["127.0.0.0/8", "::1/128"]
  allowFrom: ["127.0.0.0/8", "::1/128"]
  # File mode of each Unix socket, in quotes. The resolver's user (bind,
  # unbound) must be able to write to it: add that user to this process's
  # group, or use "0666" in a directory only they can reach. Default: "0660"
  socketMode: "0660"
  # Resolvers connected at once; more are refused. Default: 64
  maxConnections: 64
  # Largest dnstap frame accepted, in bytes; a larger one closes that
  # connection. Default: 262144
  maxFrameSize: 262144
  # Events held for each consumer (detector) that is slower than the traffic.
  # Past half of it the consumer gets a sample (one in 2, 4, ...), counted in
  # sakimori_dnstap_events_sampled_out_total. Default: 65536
  queue: 65536
  # How often one summary line (frames, queries, responses, sampling) is logged.
  # Default: 1m
  summaryInterval: 1m
${detectLines('dry-run', "the resolvers' dnstap")}

tsig:
  # TSIG keys (RFC 8945) for zone transfers and NOTIFY, named by
  # rpz.allowTransfer[].key, rpz.notify[].key and dns.zones[].key. Each is
  # { name, algorithm, secret } or { name, algorithm, secretFile }: the shared
  # secret in base64 (as \`tsig-keygen -a hmac-sha256 NAME\` prints it; a
  # secretFile may be that key file, or hold the base64 alone; keep it mode
  # 600). algorithm: hmac-sha256 (the default), hmac-sha512, hmac-sha384,
  # hmac-sha224 or hmac-sha1. The same name and secret go on the other side
  # (BIND: key "NAME" { algorithm hmac-sha256; secret "..."; };). Signatures
  # more than 300 s off the local clock are refused (BADTIME): keep NTP on.
  # Secrets are never logged. For example:
  #   keys:
  #     - { name: xfr-key, algorithm: hmac-sha256, secretFile: /etc/sakimori/xfr-key.secret }
  # Default: []
  keys: []
`;
}
