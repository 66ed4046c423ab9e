# Sourced by deploy/quickstart.sh and bench/*.sh: a throwaway Prosody on loopback.
# write_prosody_config WORKDIR C2S_PORT COMPONENT_PORT SECRET LOG_LEVEL [EXTRA_LUA]
# writes WORKDIR/prosody.cfg.lua: VirtualHost "localhost", Component "sip.localhost",
# plain-text c2s for local test clients, data under WORKDIR, no s2s, no HTTP.
write_prosody_config() {
  local work=$1 c2s=$2 comp=$3 secret=$4 level=$5 extra=${6:-}
  mkdir -p "$work/prosody-data"
  cat > "$work/prosody.cfg.lua" <<LUA
run_as_root = true
pidfile = "$work/prosody.pid"
data_path = "$work/prosody-data"
interfaces = { "127.0.0.1" }
c2s_ports = { $c2s }
c2s_direct_tls_ports = {}
s2s_ports = {}
component_ports = { $comp }
component_interface = "127.0.0.1"
http_ports = {}
https_ports = {}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
log = { { levels = { min = "$level" }, to = "file", filename = "$work/prosody.log" } }
modules_enabled = { "roster", "saslauth", "disco", "ping", "posix", "offline" }
modules_disabled = { "s2s", "tls" }
$extra

VirtualHost "localhost"

Component "sip.localhost"
    component_secret = "$secret"
LUA
}
