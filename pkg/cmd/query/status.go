package query

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/extmetrics/extmetrics/pkg/cmd/cmdutil"
	"github.com/extmetrics/extmetrics/pkg/cmd/connflags"
	"github.com/extmetrics/extmetrics/pkg/provider"
	"github.com/extmetrics/extmetrics/pkg/report"
)

// StatusOutput is the -o json|yaml output of status. It never holds secret material.
type StatusOutput struct {
	Server            string         `json:"server"`
	Online            bool           `json:"online"`
	Latency           string         `json:"latency"`
	Versions          []string       `json:"versions,omitempty"` // external.metrics.k8s.io versions listed
	Error             string         `json:"error,omitempty"`
	ErrorKind         string         `json:"errorKind,omitempty"`
	Identity          string         `json:"identity"`
	ClientCertSubject string         `json:"clientCertSubject,omitempty"`
	TLS               string         `json:"tls"`
	Connection        connflags.Info `json:"connection"`
}

// NewStatusCommand returns the status command.
func NewStatusCommand() *cobra.Command {
	var (
		conn   connflags.Flags
		output string
	)
	c := &cobra.Command{
		Use:   "status",
		Short: "Say whether the server is online and which identity and TLS settings were used",
		Long: `Check whether the server serves external.metrics.k8s.io/v1beta1 (its discovery lists the
group version) and print the latency of the check, the server URL, where the token came from
(flag, environment, file, kubeconfig, in-cluster), the client certificate's subject and the TLS
settings. Tokens are never printed. Exit status: 0 online, 1 offline, 2 usage error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "table", "json", "yaml"); err != nil {
				return err
			}
			if err := conn.Validate(); err != nil {
				return cmdutil.Usage(err)
			}
			base, err := conn.BaseConfig()
			if err != nil {
				return cmdutil.Usage(err)
			}
			p, err := provider.New(base, conn.Spec(), conn.Options())
			if err != nil {
				return cmdutil.Usage(err)
			}
			st := StatusOutput{Server: p.Server(), Connection: conn.Describe()}
			info := p.Info()
			st.Identity = identity(info.Auth, &conn)
			st.TLS = info.TLS
			if conn.CAFile != "" {
				st.TLS = strings.Replace(st.TLS, "CA file "+conn.CAFile, "CA file "+conn.CAFile+" ("+conn.Source("ca-file")+")", 1)
			}
			if b := st.Connection.Base; b != "" && b != "none" && b != "not loaded" {
				// Say which base config: the kubeconfig and context, or in-cluster.
				st.Identity = strings.ReplaceAll(st.Identity, "(base config)", "("+b+")")
				st.TLS = strings.ReplaceAll(st.TLS, "from base config", "from "+b)
			}
			st.ClientCertSubject = certSubject(&conn, base)

			hr, err := p.Health(commandContext(cmd))
			st.Latency = report.FormatDuration(hr.Latency)
			st.Online = hr.Online && err == nil
			st.Versions = hr.Versions
			if err != nil {
				st.Error = errMessage(err)
				st.ErrorKind = provider.ErrorKind(err)
			}
			if output == "table" {
				writeStatus(cmd, st)
			} else if err := writeStructured(cmd.OutOrStdout(), output, st); err != nil {
				return cmdutil.Failure(err)
			}
			if !st.Online {
				return cmdutil.Silent(cmdutil.ExitFailure)
			}
			return nil
		},
	}
	conn.AddFlags(c.Flags())
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
	return c
}

// identity refines the provider's account of the credentials with where the
// CLI got them: a --token/EXTMETRICS_TOKEN becomes the provider's "secret".
func identity(auth string, conn *connflags.Flags) string {
	if conn.Token != "" {
		src := conn.Source("token")
		if src == "" {
			src = "flags"
		}
		auth = strings.Replace(auth, "bearer token (secret)", "bearer token ("+src+")", 1)
	}
	if conn.TokenFile != "" {
		auth = strings.Replace(auth, "bearer token file "+conn.TokenFile, "bearer token file "+conn.TokenFile+" ("+conn.Source("token-file")+")", 1)
	}
	return auth
}

// certSubject is the subject of the client certificate in use, from
// --client-cert or the base config; "" without one.
func certSubject(conn *connflags.Flags, base *rest.Config) string {
	var data []byte
	switch {
	case conn.ClientCert != "":
		data, _ = os.ReadFile(conn.ClientCert)
	case base != nil && len(base.CertData) > 0:
		data = base.CertData
	case base != nil && base.CertFile != "":
		data, _ = os.ReadFile(base.CertFile)
	}
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

func writeStatus(cmd *cobra.Command, st StatusOutput) {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	state := "online (serves external.metrics.k8s.io/v1beta1)"
	if !st.Online {
		state = "OFFLINE"
	}
	fmt.Fprintf(tw, "Server:\t%s\n", st.Server)
	fmt.Fprintf(tw, "Status:\t%s\n", state)
	if st.Error != "" {
		fmt.Fprintf(tw, "Error:\t%s\n", st.Error)
	}
	fmt.Fprintf(tw, "Latency:\t%s\n", st.Latency)
	fmt.Fprintf(tw, "Identity:\t%s\n", st.Identity)
	if st.ClientCertSubject != "" {
		fmt.Fprintf(tw, "Client certificate:\t%s\n", st.ClientCertSubject)
	}
	fmt.Fprintf(tw, "TLS:\t%s\n", st.TLS)
	fmt.Fprintf(tw, "Base config:\t%s\n", st.Connection.Base)
	fmt.Fprintf(tw, "Server from:\t%s\n", st.Connection.Server)
	tw.Flush()
}
