package query

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

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
	// ConnInfo is the structured account Identity, ClientCertSubject and
	// TLS are worded from.
	ConnInfo provider.ConnInfo `json:"connInfo"`
	// Access is set when the server is a kube-apiserver: whether this
	// identity may list external metrics in --namespace.
	Access *provider.Access `json:"access,omitempty"`
}

// NewStatusCommand returns the status command.
func NewStatusCommand() *cobra.Command {
	var (
		conn      connflags.Flags
		output    string
		namespace string
	)
	c := &cobra.Command{
		Use:   "status",
		Short: "Say whether the server is online and which identity and TLS settings were used",
		Long: `Check whether the server serves external.metrics.k8s.io/v1beta1 (its discovery lists the
group version) and print the latency of the check, the server URL, where the token came from
(flag, environment, file, kubeconfig, in-cluster), the client certificate's subject and the TLS
settings. Tokens are never printed.

Against a kube-apiserver the check goes as far as the APIService's backend (a backend that
is down makes the status offline, with the APIService's condition when readable), and a
SelfSubjectAccessReview says whether this identity may list external metrics in --namespace.

Exit status: 0 online (and allowed), 1 offline or not allowed, 2 usage error.`,
		Example: `  extmetrics status                        # the kubeconfig's cluster: is external.metrics.k8s.io served?
  extmetrics status -n shop                # ... and may I list external metrics in namespace shop?
  extmetrics status --server https://127.0.0.1:8443 --ca-file ca.crt --token dev-token -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(&output, "table", "json", "yaml"); err != nil {
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
			info := p.Info()
			st := StatusOutput{
				Server:     p.Server(),
				Connection: conn.Describe(),
				ConnInfo:   info,
				Identity:   info.Identity(),
				TLS:        info.TLS.String(),
			}
			if info.ClientCert != nil {
				st.ClientCertSubject = info.ClientCert.Subject
			}

			hr, err := p.Health(commandContext(cmd))
			st.Latency = report.FormatDuration(hr.Latency)
			st.Online = hr.Online && err == nil
			st.Versions = hr.Versions
			if err != nil {
				st.Error = errMessage(err)
				st.ErrorKind = provider.ErrorKind(err)
			}
			allowed := true
			if st.Online && hr.KubeAPIServer {
				acc, aerr := p.AccessReview(commandContext(cmd), namespace)
				if aerr != nil {
					acc.Reason = "access review failed: " + errMessage(aerr)
				}
				st.Access = &acc
				allowed = aerr == nil && acc.Allowed
			}
			if output == "table" {
				writeStatus(cmd, st)
			} else if err := writeStructured(cmd.OutOrStdout(), output, st); err != nil {
				return cmdutil.Failure(err)
			}
			if !st.Online || !allowed {
				return cmdutil.Silent(cmdutil.ExitFailure)
			}
			return nil
		},
	}
	conn.AddFlags(c.Flags())
	c.Flags().StringVarP(&namespace, "namespace", "n", "default", "namespace the access review asks about (kube-apiserver only)")
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
	return c
}

func writeStatus(cmd *cobra.Command, st StatusOutput) {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	state := "online (serves external.metrics.k8s.io/v1beta1)"
	switch {
	case !st.Online:
		state = "OFFLINE"
	case st.Access != nil && !st.Access.Allowed:
		state = "online, but " + st.Access.String()
	case st.Access != nil:
		state = "online (serves external.metrics.k8s.io/v1beta1; " + st.Access.String() + ")"
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
	if st.ConnInfo.Warning != "" {
		fmt.Fprintf(tw, "WARNING:\t%s\n", st.ConnInfo.Warning)
	}
	fmt.Fprintf(tw, "Base config:\t%s\n", st.Connection.Base)
	fmt.Fprintf(tw, "Server from:\t%s\n", st.Connection.Server)
	tw.Flush()
}
