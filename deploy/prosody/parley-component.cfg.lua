-- Prosody: attach Parley as an external component (XEP-0114).
-- Put this in /etc/prosody/conf.d/parley.cfg.lua (or Include it), set the same
-- secret in Parley's [xmpp] secret (or PARLEY_XMPP__SECRET), and point
-- Parley's [xmpp] server at 127.0.0.1:5347.

-- Global section: the component port, on loopback only.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

-- The component stream over direct TLS (XEP-0114 has no STARTTLS; README,
-- "The component stream over TLS"): Prosody 0.12 has no TLS component port,
-- but mod_net_multiplex takes TLS on its ssl_ports and hands a component
-- stream to mod_component. Parley then uses [xmpp] tls = "direct",
-- require_tls = true, server = "<this host>:5348".
-- modules_enabled = { "net_multiplex" }   -- add to the existing list
-- ssl_ports = { 5348 }
-- ssl = { certificate = "/etc/prosody/certs/xmpp.example.net.crt";
--         key = "/etc/prosody/certs/xmpp.example.net.key" }

Component "sip.example.net"
    component_secret = "change-me"
    -- Prosody takes one connection per component. Two Parley instances for
    -- the domain run active/standby: both point here with the same secret;
    -- Prosody 0.12's mod_component (handle_component_auth) refuses the second
    -- one after its handshake with the stream error <conflict/> "Component
    -- already connected" (and logs "Second component attempted to connect,
    -- denying connection" at error level on every attempt). Keep the default:
    -- "kick_old" would let the standby knock the active one off, which then
    -- knocks it off in turn.
    component_conflict_resolve = "kick_new"
    -- The standby retries every xmpp.reconnect_max_ms at most (set it low,
    -- e.g. 1000, on both instances) and takes the domain as soon as the
    -- active one's connection is gone. Until then (handle_stanza) Prosody
    -- bounces stanzas to the domain with <remote-server-timeout/> type
    -- "wait" ("Component unavailable"). Measured: README, Scaling and failover.
