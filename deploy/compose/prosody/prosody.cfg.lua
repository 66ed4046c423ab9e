-- Prosody for deploy/compose/docker-compose.yml: local trials only.
-- Users live on "localhost"; Parley attaches as the component "sip.localhost"
-- on port 5347 (reachable inside the compose network only: the port is not
-- published). c2s is plain TCP on 5222 (published on 127.0.0.1) so that a
-- desktop client can log in without certificates; never do this in production.

pidfile = "/tmp/prosody.pid"
data_path = "/var/lib/prosody"
log = { { levels = { min = "info" }, to = "console" } }

interfaces = { "*" }
c2s_ports = { 5222 }
c2s_direct_tls_ports = {}
s2s_ports = {}
http_ports = {}
https_ports = {}

component_ports = { 5347 }
component_interfaces = { "*" }

c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
modules_enabled = { "roster", "saslauth", "disco", "ping", "posix", "offline" }
modules_disabled = { "s2s", "tls" }

VirtualHost "localhost"

Component "sip.localhost"
    component_secret = "compose-trial-secret"
