// metrics.js: reading GET /metrics (the Prometheus text format) and
// deriving rates from two scrapes.

// parseMetrics reads the text format into samples {name, labels, value}.
export function parseMetrics(text) {
  const samples = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l;
      while ((l = re.exec(m[3]))) labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const v = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    samples.push({name: m[1], labels, value: v});
  }
  return new Scrape(samples);
}

// Scrape is one reading of /metrics.
export class Scrape {
  constructor(samples) {
    this.samples = samples;
    this.at = performance.now();
  }

  all(name, where) {
    return this.samples.filter((s) => s.name === name && (!where || where(s.labels)));
  }

  // value is the first sample's value, or undefined.
  value(name, where) {
    const s = this.all(name, where)[0];
    return s ? s.value : undefined;
  }

  sum(name, where) {
    return this.all(name, where).reduce((t, s) => t + s.value, 0);
  }

  // label is the value of label on the sample of name whose value is 1
  // (lithair_raft_state{state="leader"} 1).
  label(name, label) {
    const s = this.all(name).find((x) => x.value === 1);
    return s ? s.labels[label] : undefined;
  }
}

// The page's own polling would be most of the traffic on a quiet node.
const own = (l) => l.route !== '/metrics';

// rates derives what happened between two scrapes: requests per second,
// mean latency and the 95th percentile from the histogram's buckets.
export function rates(prev, cur) {
  const dt = (cur.at - prev.at) / 1000;
  if (!(dt > 0)) return null;
  const req = cur.sum('lithair_http_requests_total', own) - prev.sum('lithair_http_requests_total', own);
  const errs = cur.sum('lithair_http_requests_total', (l) => own(l) && /^5/.test(l.code)) -
    prev.sum('lithair_http_requests_total', (l) => own(l) && /^5/.test(l.code));
  const sum = cur.sum('lithair_http_request_duration_seconds_sum', own) - prev.sum('lithair_http_request_duration_seconds_sum', own);
  const count = cur.sum('lithair_http_request_duration_seconds_count', own) - prev.sum('lithair_http_request_duration_seconds_count', own);
  // Buckets: cumulative counts by upper bound, summed over routes.
  const bucketDelta = new Map();
  const add = (scrape, sign) => {
    for (const s of scrape.all('lithair_http_request_duration_seconds_bucket', own)) {
      const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
      bucketDelta.set(le, (bucketDelta.get(le) || 0) + sign * s.value);
    }
  };
  add(cur, 1);
  add(prev, -1);
  return {
    rps: Math.max(0, req) / dt,
    errorsPerSecond: Math.max(0, errs) / dt,
    mean: count > 0 ? sum / count : null,
    p95: quantile(0.95, bucketDelta),
  };
}

// quantile estimates a quantile from cumulative bucket counts, as
// Prometheus's histogram_quantile does (linear within a bucket).
export function quantile(q, buckets) {
  const bs = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  if (!bs.length) return null;
  const total = bs[bs.length - 1][1];
  if (!(total > 0)) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of bs) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      const inBucket = count - prevCount;
      return inBucket > 0 ? prevLe + (le - prevLe) * ((rank - prevCount) / inBucket) : le;
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

// nodeStatus gathers the gauges the dashboard and the cluster page show.
export function nodeStatus(m) {
  return {
    ready: m.value('lithair_ready'),
    raftState: m.label('lithair_raft_state', 'state'),
    term: m.value('lithair_raft_term'),
    applied: m.value('lithair_raft_applied_index'),
    commit: m.value('lithair_raft_commit_index'),
    logSize: m.value('lithair_log_size_bytes'),
    logSegments: m.value('lithair_log_segments'),
    logFirst: m.value('lithair_log_first_index'),
    logLast: m.value('lithair_log_last_index'),
    archived: m.value('lithair_log_archived_segments'),
    broken: m.value('lithair_log_broken'),
    snapshotIndex: m.value('lithair_snapshot_last_index'),
    snapshotsStored: m.value('lithair_snapshots_stored'),
    snapshotSize: m.value('lithair_snapshot_size_bytes'),
    snapshotAt: m.value('lithair_snapshot_last_success_timestamp_seconds'),
    snapshotFailures: m.value('lithair_snapshot_failures_total'),
    rulesVersion: m.label('lithair_rules_info', 'version'),
    inFlight: m.value('lithair_http_requests_in_flight'),
    requests: m.sum('lithair_http_requests_total'),
    records: m.all('lithair_records').map((s) => ({model: s.labels.model, count: s.value})),
    goroutines: m.value('go_goroutines'),
    heap: m.value('go_memstats_heap_inuse_bytes'),
  };
}
