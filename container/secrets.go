package container

import "strings"

// Masked replaces the value of an argument that looks like a secret.
const Masked = "***"

// secretWords are the name fragments (lower case) that make an option's value a secret. They
// are deliberately broad: a port or a file name masked by mistake costs less than a password
// shown.
var secretWords = []string{"pass", "pwd", "secret", "token", "key", "auth", "cred", "cookie", "private"}

// MaskSecrets masks, in place, the values of command-line arguments that look like secrets and
// returns args. It is the one masking rule of process commands, applied wherever a command is
// built from an argv (Command). An argument is one argv element; an element holding spaces (a
// process that rewrote its title) is masked word by word. The rules:
//
//   - NAME=VALUE, -NAME=VALUE, --NAME=VALUE, -DNAME=VALUE (Java properties): VALUE is masked when
//     NAME contains pass, pwd, secret, token, key, auth, cred, cookie or private, in any case
//     (--password=x, -Djavax.net.ssl.keyStorePassword=x, api_key=x);
//   - -NAME or --NAME with such a NAME, followed by an element that does not start with '-':
//     that element is masked (--password x, --token x);
//   - -pVALUE (MySQL clients' glued password): VALUE is masked;
//   - scheme://user:password@host anywhere in an argument: the password is masked.
//
// Positional secrets (a password given without an option naming it) cannot be told apart.
func MaskSecrets(args []string) []string {
	maskNext := false
	for i, a := range args {
		if maskNext {
			maskNext = false
			if a != "" && (a[0] != '-' || len(a) == 1) {
				args[i] = Masked
				continue
			}
		}
		if strings.IndexByte(a, ' ') >= 0 {
			args[i] = strings.Join(MaskSecrets(strings.Split(a, " ")), " ")
			continue
		}
		args[i], maskNext = maskArg(a)
	}
	return args
}

// maskArg masks one word and says whether it is an option whose value is the next word.
func maskArg(a string) (string, bool) {
	a = maskURLPassword(a)
	if name, value, ok := strings.Cut(a, "="); ok {
		if value != "" && secretName(name) {
			return name + "=" + Masked, false
		}
		return a, false
	}
	if len(a) > 2 && a[0] == '-' && a[1] == 'p' {
		return "-p" + Masked, false
	}
	return a, len(a) > 1 && a[0] == '-' && secretName(a)
}

func secretName(name string) bool {
	name = strings.ToLower(name)
	for _, w := range secretWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// maskURLPassword masks the password of every scheme://user:password@ in a.
func maskURLPassword(a string) string {
	from := 0
	for {
		i := strings.Index(a[from:], "://")
		if i < 0 {
			return a
		}
		start := from + i + 3
		// The authority ends at the first '/', '?' or '#'; its userinfo at the last '@' in it.
		end := start + strings.IndexAny(a[start:]+"/", "/?#")
		at := strings.LastIndexByte(a[start:end], '@')
		colon := strings.IndexByte(a[start:end], ':')
		if at >= 0 && colon >= 0 && colon < at && a[start+colon+1:start+at] != Masked {
			a = a[:start+colon+1] + Masked + a[start+at:]
			end += len(Masked) - (at - colon - 1)
		}
		from = end
	}
}
