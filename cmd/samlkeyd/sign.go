package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/samlkeyd/samlkeyd/sp"
)

func (a *app) signCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Sign an AuthnRequest, LogoutRequest or LogoutResponse offline, as the API does",
	}
	cmd.AddCommand(a.signAuthnCmd(), a.signLogoutCmd(), a.signLogoutResponseCmd())
	return cmd
}

func (a *app) signAuthnCmd() *cobra.Command {
	var o sp.AuthnOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "authn --idp NAME",
		Short: "Print a (signed, per the IdP's Sign AuthnRequest) AuthnRequest: the redirect URL or the POST form",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snap, err := a.snapshot(cmd.Context(), cmd, nil)
			if err != nil {
				return err
			}
			msg, err := snap.SP.AuthnRequest(o)
			if errors.Is(err, sp.ErrUnknownIdP) { // a federation entity id (idp_sources)
				var svc *sp.Service
				if svc, _, o.IdP, err = federatedIdP(cmd.Context(), snap, o.IdP, err); err == nil {
					msg, err = svc.AuthnRequest(o)
				}
			}
			if err != nil {
				return err
			}
			return a.printMessage(msg, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.IdP, "idp", "", "IdP record name, or the entity id of an IdP from idp_sources (required)")
	f.StringVar(&o.Binding, "binding", "", "redirect or post (default: the binding of the IdP's SSO endpoint)")
	f.StringVar(&o.RelayState, "relay-state", "", "RelayState (at most 80 bytes)")
	f.BoolVar(&o.ForceAuthn, "force-authn", false, "set ForceAuthn")
	f.BoolVar(&o.IsPassive, "is-passive", false, "set IsPassive")
	f.StringVar(&o.NameIDFormat, "name-id-format", "", "NameIDPolicy Format")
	f.BoolVar(&asJSON, "json", false, "print the API's JSON answer instead")
	_ = cmd.MarkFlagRequired("idp")
	return cmd
}

func (a *app) signLogoutCmd() *cobra.Command {
	var o sp.LogoutOptions
	var sessions []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "logout --idp NAME --name-id V",
		Short: "Print a (signed, per the IdP's Sign LogoutRequest) LogoutRequest: the redirect URL or the POST form",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.SessionIndex = sessions
			snap, err := a.snapshot(cmd.Context(), cmd, nil)
			if err != nil {
				return err
			}
			msg, err := snap.SP.LogoutRequest(o)
			if errors.Is(err, sp.ErrUnknownIdP) { // a federation entity id (idp_sources)
				var svc *sp.Service
				if svc, _, o.IdP, err = federatedIdP(cmd.Context(), snap, o.IdP, err); err == nil {
					msg, err = svc.LogoutRequest(o)
				}
			}
			if err != nil {
				return err
			}
			return a.printMessage(msg, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.IdP, "idp", "", "IdP record name, or the entity id of an IdP from idp_sources (required)")
	f.StringVar(&o.NameID, "name-id", "", "NameID of the session to end (required)")
	f.StringVar(&o.NameIDFormat, "name-id-format", "", "NameID Format")
	f.StringSliceVar(&sessions, "session-index", nil, "SessionIndex (repeatable)")
	f.StringVar(&o.Reason, "reason", "", "Reason URI")
	f.StringVar(&o.Binding, "binding", "", "redirect or post (default: the binding of the IdP's SLO endpoint)")
	f.StringVar(&o.RelayState, "relay-state", "", "RelayState (at most 80 bytes)")
	f.BoolVar(&asJSON, "json", false, "print the API's JSON answer instead")
	_ = cmd.MarkFlagRequired("idp")
	_ = cmd.MarkFlagRequired("name-id")
	return cmd
}

func (a *app) signLogoutResponseCmd() *cobra.Command {
	var o sp.LogoutResponseOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "logout-response --idp NAME --in-response-to ID",
		Short: "Print a (signed, per the IdP's sign_logout_response) LogoutResponse: the redirect URL or the POST form",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snap, err := a.snapshot(cmd.Context(), cmd, nil)
			if err != nil {
				return err
			}
			msg, err := snap.SP.LogoutResponse(o)
			if err != nil {
				return err
			}
			return a.printMessage(msg, asJSON)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.IdP, "idp", "", "IdP record name (required)")
	f.StringVar(&o.InResponseTo, "in-response-to", "", "ID of the IdP's LogoutRequest (required)")
	f.StringVar(&o.Status, "status", "success", "success, partial, requester or responder")
	f.StringVar(&o.Binding, "binding", "", "redirect or post (default: the binding of the IdP's SLO endpoint)")
	f.StringVar(&o.RelayState, "relay-state", "", "RelayState (at most 80 bytes)")
	f.BoolVar(&asJSON, "json", false, "print the API's JSON answer instead")
	_ = cmd.MarkFlagRequired("idp")
	_ = cmd.MarkFlagRequired("in-response-to")
	return cmd
}

// printMessage prints the redirect URL, or the POST binding's HTML page, or
// with asJSON the API's JSON answer.
func (a *app) printMessage(msg *sp.Message, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(a.stdout)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(msg)
	}
	if msg.URL != "" {
		_, err := fmt.Fprintln(a.stdout, msg.URL)
		return err
	}
	_, err := fmt.Fprint(a.stdout, msg.HTML)
	return err
}
