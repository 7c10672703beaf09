package provider

import (
	"crypto/x509"
	"encoding/pem"
)

// Origin says where a connection setting came from.
type Origin string

// Origins of connection settings. The provider itself knows OriginSecret
// (Spec.SecretData), OriginOptions (Options files without a label) and
// OriginBase (the base rest.Config); callers label theirs through
// Spec.TokenFrom and Options.Sources (the CLI: flag, env, kubeconfig,
// in-cluster).
const (
	OriginSecret     Origin = "secret"      // the provider's secretRef (Spec.SecretData)
	OriginFlag       Origin = "flag"        // a command-line flag; Source.Name is the flag ("--token")
	OriginEnv        Origin = "env"         // an environment variable; Source.Name is the variable
	OriginKubeconfig Origin = "kubeconfig"  // a kubeconfig; Source.Path the file(s), Source.Name the context
	OriginInCluster  Origin = "in-cluster"  // the pod's service account
	OriginBase       Origin = "base config" // the base rest.Config, origin not given
	OriginOptions    Origin = "options"     // Options given by the caller, origin not given
	OriginSystem     Origin = "system"      // the system's root CAs
)

// Source is where one setting came from: never the value itself.
type Source struct {
	Origin Origin `json:"origin"`
	// Name is the flag ("--ca-file") or environment variable for OriginFlag
	// and OriginEnv, the context for OriginKubeconfig.
	Name string `json:"name,omitempty"`
	// Path is the kubeconfig file(s) for OriginKubeconfig (the files a
	// setting is read from are in Auth.File, TLS.CAFile, ClientCert.File).
	Path string `json:"path,omitempty"`
}

// String words the origin: "secret", "flag --token", "env
// EXTMETRICS_TOKEN", `kubeconfig /path, context "x"`, "in-cluster service
// account", "base config", "options", "system roots".
func (s Source) String() string {
	switch s.Origin {
	case OriginFlag, OriginEnv:
		return string(s.Origin) + " " + s.Name
	case OriginKubeconfig:
		return "kubeconfig " + s.Path + `, context "` + s.Name + `"`
	case OriginInCluster:
		return "in-cluster service account"
	case OriginSystem:
		return "system roots"
	case "":
		return "unknown"
	}
	return string(s.Origin)
}

// labelled reports whether the caller said where the setting came from.
func (s Source) labelled() bool { return s.Origin != "" && s.Origin != OriginOptions }

// Sources label where the caller got its Options and its base config, so
// that ConnInfo can say so (the CLI: flags, environment, kubeconfig). The
// zero value is fine: OriginOptions and OriginBase.
type Sources struct {
	Base       Source // the base rest.Config (OriginKubeconfig, OriginInCluster)
	TokenFile  Source // the path Options.TokenFile (flag, env)
	CAFile     Source // the path Options.CAFile
	ClientCert Source // the paths Options.ClientCert and ClientKey
}

// AuthMethod is how the provider authenticates.
type AuthMethod string

// Authentication methods.
const (
	AuthNone         AuthMethod = "none"          // anonymous (maybe a client certificate, see ConnInfo.ClientCert)
	AuthToken        AuthMethod = "token"         // a static bearer token
	AuthTokenFile    AuthMethod = "token-file"    // a bearer token read from Auth.File
	AuthExec         AuthMethod = "exec"          // a client-go exec plugin (Auth.Plugin is the command)
	AuthAuthProvider AuthMethod = "auth-provider" // a client-go auth provider (Auth.Plugin is its name)
	AuthBasic        AuthMethod = "basic"         // basic auth (Auth.User)
)

// Auth is the provider's bearer credential (or its absence).
type Auth struct {
	Method AuthMethod `json:"method"`
	From   Source     `json:"from"`             // where the credential (or the token file's path) came from
	File   string     `json:"file,omitempty"`   // AuthTokenFile: the file
	Reread bool       `json:"reread,omitempty"` // AuthTokenFile: read again on every request
	Plugin string     `json:"plugin,omitempty"` // AuthExec: the command; AuthAuthProvider: the name
	User   string     `json:"user,omitempty"`   // AuthBasic: the user name
}

// String words the credential, e.g. "bearer token (secret)", "bearer token
// file /t (flag --token-file) (re-read per request)", "anonymous".
func (a Auth) String() string {
	switch a.Method {
	case AuthToken:
		return "bearer token (" + a.From.String() + ")"
	case AuthTokenFile:
		s := "bearer token file " + a.File
		if a.From.labelled() {
			s += " (" + a.From.String() + ")"
		}
		if a.Reread {
			s += " (re-read per request)"
		}
		return s
	case AuthExec:
		return "exec plugin " + a.Plugin + " (" + a.From.String() + ")"
	case AuthAuthProvider:
		return "auth provider " + a.Plugin + " (" + a.From.String() + ")"
	case AuthBasic:
		return "basic auth as " + a.User + " (" + a.From.String() + ")"
	}
	return "anonymous"
}

// ClientCert is the client certificate presented for mutual TLS.
type ClientCert struct {
	From Source `json:"from"`           // where it (or its files' paths) came from
	File string `json:"file,omitempty"` // the certificate file, when read from Options.ClientCert
	// Subject is the certificate's subject ("CN=x,O=y"), or "unreadable
	// certificate: ..." when it cannot be parsed.
	Subject string `json:"subject"`
}

// String words the certificate's origin, e.g. "client certificate (secret
// tls.crt/tls.key)", "client certificate (files /c.pem)".
func (c ClientCert) String() string {
	var from string
	switch {
	case c.From.Origin == OriginSecret:
		from = "secret tls.crt/tls.key"
	case c.File != "" && c.From.labelled():
		from = "files " + c.File + ", " + c.From.String()
	case c.File != "":
		from = "files " + c.File
	default:
		from = c.From.String()
	}
	return "client certificate (" + from + ")"
}

// TLSMode is how the server's identity is checked.
type TLSMode string

// TLS modes.
const (
	TLSPlainHTTP TLSMode = "plain-http" // no TLS at all (http:// address)
	TLSInsecure  TLSMode = "insecure"   // TLS without certificate verification
	TLSVerify    TLSMode = "verify"     // TLS verified against TLS.CA
)

// TLS is the transport security settings.
type TLS struct {
	Mode TLSMode `json:"mode"`
	// CA is where the CA bundle came from (TLSVerify): OriginSecret
	// (ca.crt), a CA file (CAFile set), the base config, or OriginSystem.
	CA     Source `json:"ca"`
	CAFile string `json:"caFile,omitempty"` // Options.CAFile, when the CA was read from it
	// InsecureIgnored is set when insecureSkipVerify was asked for but a CA
	// was given, so verification stays on.
	InsecureIgnored bool `json:"insecureIgnored,omitempty"`
}

// String words the settings, e.g. "verify with CA from secret ca.crt",
// "insecure: certificate verification disabled".
func (t TLS) String() string {
	switch t.Mode {
	case TLSPlainHTTP:
		return "none (plain HTTP)"
	case TLSInsecure:
		return "insecure: certificate verification disabled"
	}
	var s string
	switch {
	case t.CA.Origin == OriginSystem:
		return "verify with system roots"
	case t.CA.Origin == OriginSecret:
		s = "verify with CA from secret ca.crt"
	case t.CAFile != "":
		s = "verify with CA from CA file " + t.CAFile
		if t.CA.labelled() {
			s += " (" + t.CA.String() + ")"
		}
	default:
		s = "verify with CA from " + t.CA.String()
	}
	if t.InsecureIgnored {
		s += " (insecureSkipVerify ignored because a CA was given)"
	}
	return s
}

// ConnInfo says which server, identity and TLS settings a Provider uses. It
// never contains secret material, only where it came from; callers word it
// as they need (String is one wording).
type ConnInfo struct {
	Server     string      `json:"server"` // base URL, e.g. https://127.0.0.1:8443
	Auth       Auth        `json:"auth"`
	ClientCert *ClientCert `json:"clientCert,omitempty"` // nil without one
	TLS        TLS         `json:"tls"`
	// Warning names a setting that works but is dangerous ("" when none):
	// credentials sent over plain http:// to a host that is not loopback.
	// Callers should show it.
	Warning string `json:"warning,omitempty"`
}

// Identity words the credentials: Auth, plus the client certificate.
func (c ConnInfo) Identity() string {
	if c.ClientCert == nil {
		return c.Auth.String()
	}
	if c.Auth.Method == AuthNone || c.Auth.Method == "" {
		return c.ClientCert.String()
	}
	return c.Auth.String() + " + " + c.ClientCert.String()
}

// String is one line: "SERVER, IDENTITY, tls: TLS".
func (c ConnInfo) String() string {
	return c.Server + ", " + c.Identity() + ", tls: " + c.TLS.String()
}

// certSubject is the subject of the first certificate in PEM data ("" when
// there is none).
func certSubject(data []byte) string {
	for len(data) > 0 {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return "unreadable certificate: " + err.Error()
		}
		return c.Subject.String()
	}
	return ""
}
