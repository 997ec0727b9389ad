// Counters of the resolver's defences: what was refused, dropped or cut
// short, each by reason. They sit beside the resolver's own counters (one
// flat object: `weft stats` and weft_dns_total{kind=...} show every key).
export interface GuardCounters {
  /** Local answers served from the answer cache. */
  cached: number;
  /** SERVFAIL at once: the cap on pending forwarded queries was reached. */
  servfail_pending_full: number;
  /** Upstream replies ignored: wrong ID, not a response, another question, unreadable. */
  upstream_ignored: number;
  /** An upstream that answered REFUSED, SERVFAIL or NOTIMP (the next one is tried at once). */
  upstream_failover: number;
  /** An upstream that could not be reached (ICMP port unreachable, no route): the next one at once. */
  upstream_unreachable: number;
  /** An upstream still silent when the query's deadline came. */
  upstream_timeout: number;
  /** Host listener: REFUSED to a client outside loopback and --dns-allow. */
  refused: number;
  /** Host listener, response rate limit: queries dropped, and those answered with an empty TC reply. */
  rrl_dropped: number;
  rrl_slipped: number;
  /** Host listener TCP: connections closed at once (too many), reads paused (the client does not read). */
  tcp_conn_refused: number;
  tcp_paused: number;
  /** In-band TCP (SYN cookies: no state before the handshake ends): ACKs for no connection whose cookie is wrong, established connections evicted (least recently active first), segments dropped (buffer or in-flight bound: the client sends them again). */
  inband_bad_ack: number;
  inband_conn_evicted: number;
  inband_segment_dropped: number;
}

export function guardCounters(): GuardCounters {
  return {
    cached: 0,
    servfail_pending_full: 0,
    upstream_ignored: 0,
    upstream_failover: 0,
    upstream_unreachable: 0,
    upstream_timeout: 0,
    refused: 0,
    rrl_dropped: 0,
    rrl_slipped: 0,
    tcp_conn_refused: 0,
    tcp_paused: 0,
    inband_bad_ack: 0,
    inband_conn_evicted: 0,
    inband_segment_dropped: 0,
  };
}
