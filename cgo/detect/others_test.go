package detect

import (
	"encoding/hex"
	"strings"
	"testing"
)

// others are first buffers of protocols netobserver does not parse: detect() must leave them
// unknown (a connection claimed by mistake exports bytes its parser can only fail on, and keeps
// the wrong protocol for good). Hex strings are whole buffers; text ones are written as is.
var others = []struct {
	name  string
	dgram bool
	buf   string
}{
	{"ssh client banner", false, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"},
	{"smtp greeting", false, "220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n"},
	{"smtp ehlo", false, "EHLO client.example.com\r\n"},
	{"ftp greeting", false, "220 (vsFTPd 3.0.3)\r\n"},
	{"ftp user", false, "USER anonymous\r\n"},
	{"imap greeting", false, "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS AUTH=PLAIN] Dovecot (Debian) ready.\r\n"},
	{"imap login", false, "a001 LOGIN user pass\r\n"},
	{"pop3 user", false, "USER alice\r\n"},
	{"irc nick", false, "NICK alice\r\nUSER alice 0 * :Alice\r\n"},
	{"xmpp stream", false, "<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"},
	{"rtsp describe", false, "DESCRIBE rtsp://example.com/media.mp4 RTSP/1.0\r\nCSeq: 2\r\n\r\n"},
	{"sip register", true, "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060\r\n\r\n"},
	{"zookeeper connect", false, "hex:0000002d000000000000000000000000000075300000000000000000000000100000000000000000000000000000000000"},
	{"cassandra options", false, "hex:0400000005000000 00"},
	{"ldap bind", false, "hex:300c020101600702010304008000"},
	{"rdp connection request", false, "hex:0300002b26e00000000000436f6f6b69653a206d737473686173683d75736572300d0a0100080003000000"},
	{"smb2 negotiate netbios", false, "hex:000000b4fe534d4240000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000002400050001000000"},
	{"vnc version", false, "RFB 003.008\n"},
	{"ntp client", true, "hex:e30004fa000100000001000000000000000000000000000000000000000000000000000000000000e9a1b2c3d4e5f607"},
	{"syslog", true, "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"},
	{"statsd", true, "page.views:1|c\n"},
	{"stun binding request", true, "hex:000100002112a442b7e7a701bc34d686fa87dfae"},
	{"snmp get", true, "hex:302602010104067075626c6963a0190204" + "1234567802010002010030" + "0b300906052b06010201" + "0500"},
	{"quic initial", true, "hex:c3000000010811223344556677880000449e" + strings.Repeat("00", 60)},
	{"wireguard initiation", true, "hex:01000000" + strings.Repeat("5a", 144)},
	{"git protocol", false, "0032git-upload-pack /project.git\x00host=example.com\x00"},
}

func TestOthersNotClaimed(t *testing.T) {
	for _, o := range others {
		b := []byte(o.buf)
		if h, ok := strings.CutPrefix(o.buf, "hex:"); ok {
			var err error
			if b, err = hex.DecodeString(strings.ReplaceAll(h, " ", "")); err != nil {
				t.Fatalf("%s: %v", o.name, err)
			}
		}
		for _, first := range []bool{true, false} {
			if r := Classify(b, Input{Dgram: o.dgram, First: first, Pad: -1}); r.Proto != 0 || r.TLS {
				t.Errorf("%s (first %v): %v, want unknown", o.name, first, r)
			}
		}
	}
}
