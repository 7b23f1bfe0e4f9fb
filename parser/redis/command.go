package redis

import "github.com/netobserver/netobserver/parser"

const (
	// maxName bounds a command name; the longest Redis and module commands are ~30 bytes.
	maxName = 64
	// maxSub bounds a subcommand name.
	maxSub = 32
)

// subcommands are the subcommands of Redis' container commands, whose second argument is a
// subcommand keyword that then belongs in Method ("CLIENT SETINFO", "CONFIG GET"): those of
// Redis 7.0's COMMAND DOCS, plus later ones. A second argument not listed (a typo, a key
// passed by mistake) is left out of Method: arguments never leave the host.
var subcommands = map[string][]string{
	"ACL": {"CAT", "DELUSER", "DRYRUN", "GENPASS", "GETUSER", "HELP", "LIST", "LOAD", "LOG", "SAVE",
		"SETUSER", "USERS", "WHOAMI"},
	"CLIENT": {"CACHING", "CAPA", "GETNAME", "GETREDIR", "HELP", "ID", "INFO", "KILL", "LIST",
		"NO-EVICT", "NO-TOUCH", "PAUSE", "REPLY", "SETINFO", "SETNAME", "TRACKING", "TRACKINGINFO",
		"UNBLOCK", "UNPAUSE"},
	"CLUSTER": {"ADDSLOTS", "ADDSLOTSRANGE", "BUMPEPOCH", "COUNT-FAILURE-REPORTS", "COUNTKEYSINSLOT",
		"DELSLOTS", "DELSLOTSRANGE", "FAILOVER", "FLUSHSLOTS", "FORGET", "GETKEYSINSLOT", "HELP", "INFO",
		"KEYSLOT", "LINKS", "MEET", "MYID", "MYSHARDID", "NODES", "REPLICAS", "REPLICATE", "RESET",
		"SAVECONFIG", "SET-CONFIG-EPOCH", "SETSLOT", "SHARDS", "SLAVES", "SLOT-STATS", "SLOTS"},
	"COMMAND":  {"COUNT", "DOCS", "GETKEYS", "GETKEYSANDFLAGS", "HELP", "INFO", "LIST"},
	"CONFIG":   {"GET", "HELP", "RESETSTAT", "REWRITE", "SET"},
	"FUNCTION": {"DELETE", "DUMP", "FLUSH", "HELP", "KILL", "LIST", "LOAD", "RESTORE", "STATS"},
	"LATENCY":  {"DOCTOR", "GRAPH", "HELP", "HISTOGRAM", "HISTORY", "LATEST", "RESET"},
	"MEMORY":   {"DOCTOR", "HELP", "MALLOC-STATS", "PURGE", "STATS", "USAGE"},
	"MODULE":   {"HELP", "LIST", "LOAD", "LOADEX", "UNLOAD"},
	"OBJECT":   {"ENCODING", "FREQ", "HELP", "IDLETIME", "REFCOUNT"},
	"PUBSUB":   {"CHANNELS", "HELP", "NUMPAT", "NUMSUB", "SHARDCHANNELS", "SHARDNUMSUB"},
	"SCRIPT":   {"DEBUG", "EXISTS", "FLUSH", "HELP", "KILL", "LOAD"},
	"SLOWLOG":  {"GET", "HELP", "LEN", "RESET"},
	"XGROUP":   {"CREATE", "CREATECONSUMER", "DELCONSUMER", "DESTROY", "HELP", "SETID"},
	"XINFO":    {"CONSUMERS", "GROUPS", "HELP", "STREAM"},
}

// knownMethods holds every "COMMAND SUBCOMMAND" Method, for lookups that do not allocate.
var knownMethods = func() map[string]bool {
	m := make(map[string]bool)
	for c, subs := range subcommands {
		for _, s := range subs {
			m[c+" "+s] = true
		}
	}
	return m
}()

// hasSubcommand says whether a command name (upper case) is a container command.
func hasSubcommand(name string) bool {
	_, ok := subcommands[name]
	return ok
}

// cmdKind is what the pub/sub bookkeeping needs to know of a request.
type cmdKind uint8

// The first six are also the kinds of subscription confirmations, named by their first element.
const (
	cmdOther cmdKind = iota
	cmdSubscribe
	cmdPSubscribe
	cmdSSubscribe
	cmdUnsubscribe
	cmdPUnsubscribe
	cmdSUnsubscribe
	cmdMonitor
)

func kindOf(method string) cmdKind {
	switch method {
	case "SUBSCRIBE":
		return cmdSubscribe
	case "PSUBSCRIBE":
		return cmdPSubscribe
	case "SSUBSCRIBE":
		return cmdSSubscribe
	case "UNSUBSCRIBE":
		return cmdUnsubscribe
	case "PUNSUBSCRIBE":
		return cmdPUnsubscribe
	case "SUNSUBSCRIBE":
		return cmdSUnsubscribe
	case "MONITOR":
		return cmdMonitor
	}
	return cmdOther
}

// confirmation maps the first element of a pub/sub reply, as Redis spells it, to its kind.
func confirmation(s string) cmdKind {
	switch s {
	case "subscribe":
		return cmdSubscribe
	case "psubscribe":
		return cmdPSubscribe
	case "ssubscribe":
		return cmdSSubscribe
	case "unsubscribe":
		return cmdUnsubscribe
	case "punsubscribe":
		return cmdPUnsubscribe
	case "sunsubscribe":
		return cmdSUnsubscribe
	}
	return cmdOther
}

// unknownCommand is Method for a request whose first element is not the name of a Redis
// command: a name Redis does not have, a module's command, or not a name at all.
const unknownCommand = "UNKNOWN"

// isNameByte marks bytes of command names: letters, digits, and the separators of module
// ("FT.SEARCH") and ACL-style ("CONFIG|GET") names.
var isNameByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range []byte("._-|:") {
		t[c] = true
	}
	return t
}()

// commandName returns the interned Method for a command name and, when the command has one, its
// subcommand; sub is nil when absent. It returns "" when name is not a command name, and
// unknownCommand when it is one Redis does not have (see commands).
func commandName(in *parser.Interner, name, sub []byte) string {
	if len(name) == 0 || len(name) > maxName {
		return ""
	}
	var up [maxName + 1 + maxSub]byte
	n, ok := upper(up[:], name)
	if !ok {
		return ""
	}
	if !commands[string(up[:n])] {
		return unknownCommand
	}
	// Container names are at most 8 bytes; the bound spares a lookup.
	if sub != nil && len(sub) <= maxSub && n <= 8 && hasSubcommand(string(up[:n])) {
		up[n] = ' '
		if m, ok := upper(up[n+1:], sub); ok && knownMethods[string(up[:n+1+m])] {
			n += 1 + m
		}
	}
	return in.Bytes(up[:n])
}

// upper copies name into dst in upper case; ok is false if name has a byte commands do not.
func upper(dst, name []byte) (int, bool) {
	for i, c := range name {
		if !isNameByte[c] {
			return 0, false
		}
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		dst[i] = c
	}
	return len(name), true
}

// commands are the command names of Redis: those of Redis 7.0's COMMAND LIST (redis-server
// 7.0.15, Debian bookworm), plus those added by 7.2 (WAITAOF) and 7.4 (the hash field expiry
// commands). A request naming anything else — a typo, a module's command (FT.SEARCH, JSON.GET),
// a command renamed by rename-command, or bytes that only look like a name — gets Method
// UNKNOWN: names not on this list could be anything, a client's secret included, and never
// leave the host.
var commands = func() map[string]bool {
	m := make(map[string]bool)
	for _, c := range []string{
		"ACL", "APPEND", "ASKING", "AUTH", "BGREWRITEAOF", "BGSAVE", "BITCOUNT", "BITFIELD",
		"BITFIELD_RO", "BITOP", "BITPOS", "BLMOVE", "BLMPOP", "BLPOP", "BRPOP", "BRPOPLPUSH", "BZMPOP",
		"BZPOPMAX", "BZPOPMIN", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "COPY", "DBSIZE", "DEBUG",
		"DECR", "DECRBY", "DEL", "DISCARD", "DUMP", "ECHO", "EVAL", "EVALSHA", "EVALSHA_RO", "EVAL_RO",
		"EXEC", "EXISTS", "EXPIRE", "EXPIREAT", "EXPIRETIME", "FAILOVER", "FCALL", "FCALL_RO", "FLUSHALL",
		"FLUSHDB", "FUNCTION", "GEOADD", "GEODIST", "GEOHASH", "GEOPOS", "GEORADIUS", "GEORADIUSBYMEMBER",
		"GEORADIUSBYMEMBER_RO", "GEORADIUS_RO", "GEOSEARCH", "GEOSEARCHSTORE", "GET", "GETBIT", "GETDEL",
		"GETEX", "GETRANGE", "GETSET", "HDEL", "HELLO", "HEXISTS", "HEXPIRE", "HEXPIREAT", "HEXPIRETIME",
		"HGET", "HGETALL", "HINCRBY", "HINCRBYFLOAT", "HKEYS", "HLEN", "HMGET", "HMSET", "HPERSIST",
		"HPEXPIRE", "HPEXPIREAT", "HPEXPIRETIME", "HPTTL", "HRANDFIELD", "HSCAN", "HSET", "HSETNX",
		"HSTRLEN", "HTTL", "HVALS", "INCR", "INCRBY", "INCRBYFLOAT", "INFO", "KEYS", "LASTSAVE",
		"LATENCY", "LCS", "LINDEX", "LINSERT", "LLEN", "LMOVE", "LMPOP", "LOLWUT", "LPOP", "LPOS",
		"LPUSH", "LPUSHX", "LRANGE", "LREM", "LSET", "LTRIM", "MEMORY", "MGET", "MIGRATE", "MODULE",
		"MONITOR", "MOVE", "MSET", "MSETNX", "MULTI", "OBJECT", "PERSIST", "PEXPIRE", "PEXPIREAT",
		"PEXPIRETIME", "PFADD", "PFCOUNT", "PFDEBUG", "PFMERGE", "PFSELFTEST", "PING", "PSETEX",
		"PSUBSCRIBE", "PSYNC", "PTTL", "PUBLISH", "PUBSUB", "PUNSUBSCRIBE", "QUIT", "RANDOMKEY",
		"READONLY", "READWRITE", "RENAME", "RENAMENX", "REPLCONF", "REPLICAOF", "RESET", "RESTORE",
		"RESTORE-ASKING", "ROLE", "RPOP", "RPOPLPUSH", "RPUSH", "RPUSHX", "SADD", "SAVE", "SCAN", "SCARD",
		"SCRIPT", "SDIFF", "SDIFFSTORE", "SELECT", "SET", "SETBIT", "SETEX", "SETNX", "SETRANGE",
		"SHUTDOWN", "SINTER", "SINTERCARD", "SINTERSTORE", "SISMEMBER", "SLAVEOF", "SLOWLOG", "SMEMBERS",
		"SMISMEMBER", "SMOVE", "SORT", "SORT_RO", "SPOP", "SPUBLISH", "SRANDMEMBER", "SREM", "SSCAN",
		"SSUBSCRIBE", "STRLEN", "SUBSCRIBE", "SUBSTR", "SUNION", "SUNIONSTORE", "SUNSUBSCRIBE", "SWAPDB",
		"SYNC", "TIME", "TOUCH", "TTL", "TYPE", "UNLINK", "UNSUBSCRIBE", "UNWATCH", "WAIT", "WAITAOF",
		"WATCH", "XACK", "XADD", "XAUTOCLAIM", "XCLAIM", "XDEL", "XGROUP", "XINFO", "XLEN", "XPENDING",
		"XRANGE", "XREAD", "XREADGROUP", "XREVRANGE", "XSETID", "XTRIM", "ZADD", "ZCARD", "ZCOUNT",
		"ZDIFF", "ZDIFFSTORE", "ZINCRBY", "ZINTER", "ZINTERCARD", "ZINTERSTORE", "ZLEXCOUNT", "ZMPOP",
		"ZMSCORE", "ZPOPMAX", "ZPOPMIN", "ZRANDMEMBER", "ZRANGE", "ZRANGEBYLEX", "ZRANGEBYSCORE",
		"ZRANGESTORE", "ZRANK", "ZREM", "ZREMRANGEBYLEX", "ZREMRANGEBYRANK", "ZREMRANGEBYSCORE",
		"ZREVRANGE", "ZREVRANGEBYLEX", "ZREVRANGEBYSCORE", "ZREVRANK", "ZSCAN", "ZSCORE", "ZUNION",
		"ZUNIONSTORE",
	} {
		m[c] = true
	}
	return m
}()

// KernelMethod is Method for a request whose command name and, for a container command, second
// argument (nil or empty: none) the kernel aggregation handed over, upper-cased but unchecked
// (include/libebpf.h, netobserver_agg_key): what parseArray gives the same request, so that a
// name Redis does not have is UNKNOWN and an unknown subcommand is left out.
func KernelMethod(in *parser.Interner, name, sub []byte) string {
	return orUnknown(commandName(in, name, sub))
}
