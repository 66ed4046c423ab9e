-- Prosody: attach Parley as an external component (XEP-0114).
-- Put this in /etc/prosody/conf.d/parley.cfg.lua (or Include it), set the same
-- secret in Parley's [xmpp] secret (or PARLEY_XMPP__SECRET), and point
-- Parley's [xmpp] server at 127.0.0.1:5347.

-- Global section: the component port, on loopback only.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

Component "sip.example.net"
    component_secret = "change-me"
