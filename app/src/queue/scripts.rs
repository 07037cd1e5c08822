//! Lua scripts for the state changes that touch more than one key.
//!
//! Redis runs a script atomically, so a worker crashing between "remove from here" and "add
//! there" cannot lose or duplicate a job. Every script that settles a delivery first XACKs it and
//! does nothing more when the XACK finds nothing: the entry was already settled by another
//! consumer that reclaimed it, and settling it twice would duplicate the retry or dead letter.
//! Times come from Redis' own clock so workers with skewed clocks agree on due times.

/// Settles a success. KEYS: source stream. ARGV: group, entry id, delete ("1" for retry streams,
/// whose entries belong to one group and are useless once acknowledged).
pub(crate) const ACK: &str = r#"
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 1 and ARGV[3] == '1' then
  redis.call('XDEL', KEYS[1], ARGV[2])
end
return acked
"#;

/// Settles a failure that will be retried. KEYS: source stream, delayed set.
/// ARGV: group, entry id, delete, delay in ms, job JSON for the next attempt.
pub(crate) const RETRY: &str = r#"
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 0 then return 0 end
if ARGV[3] == '1' then redis.call('XDEL', KEYS[1], ARGV[2]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[5])
return 1
"#;

/// Settles a failure that will not be retried. KEYS: source stream, dead-letter stream.
/// ARGV: group, entry id, delete, job JSON, error, failed-at ms, topic, attempts.
/// The dead-letter stream is never trimmed: dead jobs wait for an operator.
pub(crate) const DEAD: &str = r#"
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 0 then return 0 end
if ARGV[3] == '1' then redis.call('XDEL', KEYS[1], ARGV[2]) end
redis.call('XADD', KEYS[2], '*', 'job', ARGV[4], 'error', ARGV[5], 'failedAt', ARGV[6],
  'topic', ARGV[7], 'group', ARGV[1], 'attempts', ARGV[8])
return 1
"#;

/// Moves due retries into the group's retry stream. KEYS: delayed set, retry stream.
/// ARGV: most jobs to move. Returns how many moved.
pub(crate) const PROMOTE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, job in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', 'job', job)
  redis.call('ZREM', KEYS[1], job)
end
return #due
"#;

/// Moves one dead job back to its group's retry stream. KEYS: dead-letter stream, retry stream.
/// ARGV: dead-letter entry id, job JSON (attempt reset). Returns 0 when the entry is gone
/// (replayed concurrently), so a job is never replayed twice.
pub(crate) const REPLAY: &str = r#"
local found = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #found == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'job', ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
"#;

/// Publishes a job and keeps its topic stream near `cap` without dropping anything a group still
/// needs. KEYS: topic stream. ARGV: job JSON, cap. Returns the new entry id.
///
/// `XADD ... MAXLEN ~ cap` would trim whether or not every consumer group has read and
/// acknowledged the entries, so a group that lags (its workers stopped) would lose jobs
/// silently. Instead, once the stream is longer than `cap`, it is trimmed (`MINID`) only up to
/// the oldest entry some group still needs: the group's oldest pending (delivered, not
/// acknowledged) entry, else its last delivered one. A stream with no group keeps everything,
/// since a group created later starts from the beginning. `cap` is therefore a soft cap: a
/// lagging group makes the stream grow until it catches up (the `lag` gauge shows it).
pub(crate) const PUBLISH: &str = r#"
local id = redis.call('XADD', KEYS[1], '*', 'job', ARGV[1])
if redis.call('XLEN', KEYS[1]) <= tonumber(ARGV[2]) then return id end
local function before(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local keep = nil
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, needed
  for i = 1, #group, 2 do
    if group[i] == 'name' then name = group[i + 1] end
    if group[i] == 'last-delivered-id' then needed = group[i + 1] end
  end
  local pending = redis.call('XPENDING', KEYS[1], name)
  if pending[1] > 0 and before(pending[2], needed) then needed = pending[2] end
  if keep == nil or before(needed, keep) then keep = needed end
end
if keep ~= nil then redis.call('XTRIM', KEYS[1], 'MINID', '~', keep) end
return id
"#;
