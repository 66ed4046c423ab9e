#!/usr/bin/env python3
"""Writes deploy/grafana/parley-dashboard.json (Grafana 10/11, Prometheus data source).

    python3 deploy/grafana/build-dashboard.py          # rewrite the JSON
    python3 deploy/grafana/build-dashboard.py --check  # exit 1 if the JSON is stale

The JSON is committed so that it can be imported as is; deploy/check.sh runs
--check and then checks that every metric parley exports appears in a panel
(counters under rate()/increase(), histograms under histogram_quantile()).
Standard library only.
"""

import json
import sys
from pathlib import Path

OUT = Path(__file__).with_name("parley-dashboard.json")
SEL = 'job=~"$job", instance=~"$instance"'
DS = {"type": "prometheus", "uid": "${datasource}"}

panels = []
_next_id = [1]
_y = [0]


def _id():
    i = _next_id[0]
    _next_id[0] += 1
    return i


def row(title):
    panels.append(
        {
            "type": "row",
            "id": _id(),
            "title": title,
            "collapsed": False,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": _y[0]},
            "panels": [],
        }
    )
    _y[0] += 1


def _targets(targets):
    out = []
    for n, (expr, legend) in enumerate(targets):
        out.append(
            {
                "datasource": DS,
                "expr": expr,
                "legendFormat": legend,
                "range": True,
                "refId": chr(ord("A") + n),
            }
        )
    return out


def timeseries(title, desc, targets, x, w, unit="short", h=8, stack=False):
    panels.append(
        {
            "type": "timeseries",
            "id": _id(),
            "title": title,
            "description": desc,
            "datasource": DS,
            "gridPos": {"h": h, "w": w, "x": x, "y": _y[0]},
            "fieldConfig": {
                "defaults": {
                    "unit": unit,
                    "custom": {
                        "drawStyle": "line",
                        "lineWidth": 1,
                        "fillOpacity": 10,
                        "showPoints": "never",
                        "stacking": {"mode": "normal" if stack else "none", "group": "A"},
                    },
                },
                "overrides": [],
            },
            "options": {
                "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
                "tooltip": {"mode": "multi", "sort": "desc"},
            },
            "targets": _targets(targets),
        }
    )


def stat(title, desc, targets, x, w, unit="short", h=4, mappings=None, thresholds=None):
    panels.append(
        {
            "type": "stat",
            "id": _id(),
            "title": title,
            "description": desc,
            "datasource": DS,
            "gridPos": {"h": h, "w": w, "x": x, "y": _y[0]},
            "fieldConfig": {
                "defaults": {
                    "unit": unit,
                    "mappings": mappings or [],
                    "thresholds": thresholds
                    or {"mode": "absolute", "steps": [{"color": "green", "value": None}]},
                },
                "overrides": [],
            },
            "options": {
                "colorMode": "background",
                "graphMode": "none",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "textMode": "value_and_name",
            },
            "targets": _targets(targets),
        }
    )


def next_line(h):
    _y[0] += h


def rate(metric, by, extra=""):
    sel = SEL + (", " + extra if extra else "")
    return f"sum by ({by}) (rate({metric}{{{sel}}}[$__rate_interval]))"


def quantiles(metric, by):
    return [
        (
            f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{SEL}}}[$__rate_interval])))",
            f"p{int(q * 100)} {{{{{by}}}}}",
        )
        for q in (0.5, 0.95, 0.99)
    ]


UPDOWN = [
    {"type": "value", "options": {"0": {"text": "down", "color": "red", "index": 0}}},
    {"type": "value", "options": {"1": {"text": "up", "color": "green", "index": 1}}},
]
RED_GREEN = {
    "mode": "absolute",
    "steps": [{"color": "red", "value": None}, {"color": "green", "value": 1}],
}

# --- Overview -----------------------------------------------------------------
row("Overview")
stat(
    "Component stream",
    "parley_component_connected: 1 while the XEP-0114 stream is authenticated (/readyz needs it).",
    [(f"parley_component_connected{{{SEL}}}", "{{instance}}")],
    0, 6, mappings=UPDOWN, thresholds=RED_GREEN,
)
stat(
    "Scrape target",
    "Prometheus' up for the parley job: 0 when /metrics cannot be scraped.",
    [(f"up{{{SEL}}}", "{{instance}}")],
    6, 6, mappings=UPDOWN, thresholds=RED_GREEN,
)
stat(
    "Version",
    "parley_build_info: one series per running version (value always 1).",
    [(f"count by (version) (parley_build_info{{{SEL}}})", "{{version}}")],
    12, 6,
)
stat(
    "Uptime",
    "Seconds since the process started (process_start_time_seconds).",
    [(f"time() - process_start_time_seconds{{{SEL}}}", "{{instance}}")],
    18, 6, unit="s",
)
next_line(4)

# --- Messages -----------------------------------------------------------------
row("Messages")
timeseries(
    "Messages by direction and outcome",
    "rate(parley_messages_total): messages translated and how they ended "
    "(delivered, rejected, failed, timeout, unavailable).",
    [(rate("parley_messages_total", "direction, outcome"), "{{direction}} {{outcome}}")],
    0, 12, unit="reqps",
)
timeseries(
    "Message failure ratio",
    "Share of messages per direction that did not end delivered (alert ParleyMessageFailureRatioHigh at 20 %).",
    [
        (
            # "or … * 0": 0 rather than no data while nothing failed.
            "("
            + rate("parley_messages_total", "direction", 'outcome!="delivered"')
            + " or "
            + rate("parley_messages_total", "direction")
            + " * 0) / "
            + rate("parley_messages_total", "direction"),
            "{{direction}}",
        )
    ],
    12, 12, unit="percentunit",
)
next_line(8)
timeseries(
    "Translation latency",
    "parley_translation_seconds quantiles: time from receipt to handing the message to the other side.",
    quantiles("parley_translation_seconds", "direction"),
    0, 12, unit="s",
)
timeseries(
    "Errors by reason",
    "rate(parley_errors_total) by reason (an error kind, e.g. queue-full).",
    [(rate("parley_errors_total", "reason"), "{{reason}}")],
    12, 12, unit="ops",
)
next_line(8)

# --- XMPP component -----------------------------------------------------------
row("XMPP component (XEP-0114)")
timeseries(
    "Component connected",
    "parley_component_connected over time.",
    [(f"parley_component_connected{{{SEL}}}", "{{instance}}")],
    0, 8,
)
timeseries(
    "Component reconnects",
    "increase(parley_component_reconnects_total) per 5 minutes (alert ParleyComponentFlapping).",
    [(f"sum by (instance) (increase(parley_component_reconnects_total{{{SEL}}}[5m]))", "{{instance}}")],
    8, 8,
)
timeseries(
    "Stream errors",
    "rate(parley_xmpp_stream_errors_total): bad XML or limits on the component stream.",
    [(rate("parley_xmpp_stream_errors_total", "instance"), "{{instance}}")],
    16, 8, unit="ops",
)
next_line(8)
timeseries(
    "Stanzas",
    "rate(parley_xmpp_stanzas_total) by kind and direction.",
    [(rate("parley_xmpp_stanzas_total", "kind, direction"), "{{kind}} {{direction}}")],
    0, 12, unit="ops",
)
timeseries(
    "Outgoing queue",
    "parley_xmpp_queue_length: stanzas waiting for the component stream "
    "(bounded by xmpp.queue_capacity, default 1024).",
    [(f"parley_xmpp_queue_length{{{SEL}}}", "{{instance}}")],
    12, 12,
)
next_line(8)
timeseries(
    "Shaped stanzas",
    "rate(parley_xmpp_stanzas_shaped_total): stanzas from XMPP senders over "
    "limits.xmpp_stanzas_per_second that waited in their sender's queue instead of "
    "going on at once (refusals of a full queue: Limit rejections, xmpp_rate).",
    [(rate("parley_xmpp_stanzas_shaped_total", "instance"), "{{instance}}")],
    0, 12, unit="ops",
)
timeseries(
    "Shaping queue",
    "parley_xmpp_shaping_queue_length: stanzas waiting for their sender's rate, across "
    "senders (bounded by limits.xmpp_queued_stanzas, default 10000).",
    [(f"parley_xmpp_shaping_queue_length{{{SEL}}}", "{{instance}}")],
    12, 12,
)
next_line(8)
timeseries(
    "Component TLS failures",
    "increase(parley_component_tls_failures_total) per 5 minutes by reason: "
    "certificate = the XMPP server's certificate refused (xmpp.tls_ca, xmpp.tls_name), "
    "handshake = TLS failed otherwise (the port does not speak TLS). Parley never "
    "falls back to clear; it retries and stays not ready.",
    [(f"sum by (instance, reason) (increase(parley_component_tls_failures_total{{{SEL}}}[5m]))",
      "{{instance}} {{reason}}")],
    0, 12,
)
next_line(8)

# --- SIP ----------------------------------------------------------------------
row("SIP")
timeseries(
    "Requests",
    "rate(parley_sip_requests_total) by method and direction.",
    [(rate("parley_sip_requests_total", "method, direction"), "{{method}} {{direction}}")],
    0, 12, unit="reqps",
)
timeseries(
    "Responses",
    "rate(parley_sip_responses_total) by status class and direction "
    "(in: answers to parley's requests; out: parley's answers).",
    [(rate("parley_sip_responses_total", "class, direction"), "{{class}} {{direction}}")],
    12, 12, unit="reqps",
)
next_line(8)
timeseries(
    "Retransmissions, parse errors, stray responses",
    "rate of parley_sip_retransmissions_total (UDP), parley_sip_parse_errors_total "
    "and parley_sip_stray_responses_total.",
    [
        (rate("parley_sip_retransmissions_total", "instance"), "retransmissions {{instance}}"),
        (rate("parley_sip_parse_errors_total", "instance"), "parse errors {{instance}}"),
        (rate("parley_sip_stray_responses_total", "instance"), "stray responses {{instance}}"),
    ],
    0, 12, unit="ops",
)
timeseries(
    "Transactions alive",
    "parley_sip_transactions: SIP transactions alive now; of them, "
    "parley_sip_pending_transactions wait for an answer (limited by "
    "limits.sip_pending_transactions) and parley_sip_completed_transactions only "
    "absorb retransmissions until Timer J/K (limits.sip_completed_transactions).",
    [
        (f"parley_sip_transactions{{{SEL}}}", "all {{instance}}"),
        (f"parley_sip_pending_transactions{{{SEL}}}", "pending {{instance}}"),
        (f"parley_sip_completed_transactions{{{SEL}}}", "completed {{instance}}"),
    ],
    12, 12,
)
next_line(8)

# --- Registry -----------------------------------------------------------------
row("Registry and subscriptions")
timeseries(
    "Registry entries",
    "parley_registry_entries by kind: in-flight requests each way and live presence "
    "subscriptions (sip_subscriptions_out: XMPP users watching SIP users; _in: the reverse).",
    [(f"sum by (kind) (parley_registry_entries{{{SEL}}})", "{{kind}}")],
    0, 12,
)
timeseries(
    "Subscription refreshes and restores",
    "rate(parley_subscription_refreshes_total) by outcome (a failed refresh ends the "
    "subscription: the XMPP user sees unavailable), rate(parley_subscriptions_restored_total) "
    "by kind and outcome (stored subscriptions taken up after a restart) and "
    "rate(parley_presence_requests_deferred_total) by request (SUBSCRIBEs, refreshes and "
    "NOTIFYs the SIP transaction table had no room for, made again later).",
    [
        (rate("parley_subscription_refreshes_total", "outcome"), "refresh {{outcome}}"),
        (rate("parley_subscriptions_restored_total", "kind, outcome"), "restored {{kind}} {{outcome}}"),
        (rate("parley_presence_requests_deferred_total", "request"), "deferred {{request}}"),
    ],
    12, 12, unit="ops",
)
next_line(8)
timeseries(
    "Presence polls",
    "rate(parley_presence_fetches_total) by direction and outcome (RFC 8048 §7): "
    "xmpp_to_sip = probes for SIP contacts (fetch SUBSCRIBE with Expires: 0), "
    "sip_to_xmpp = SIP fetches of XMPP users (answered via a probe). known/cached/coalesced "
    "sent no new request (§8.1); presence got the state; no_state, refused, timeout, failed did not.",
    [(rate("parley_presence_fetches_total", "direction, outcome"), "{{direction}} {{outcome}}")],
    6, 18, unit="ops",
)
stat(
    "Store persistent",
    "parley_store_persistent: 1 while subscription state is written to the store; "
    "0 when the store could not be opened (parley runs, but a restart loses subscriptions).",
    [(f"min(parley_store_persistent{{{SEL}}})", "")],
    0, 6, mappings=UPDOWN, thresholds=RED_GREEN,
)
next_line(8)
timeseries(
    "Several instances: takeovers, handoffs, lease renewals",
    "Design 4a, with a shared PostgreSQL store. rate(parley_store_takeovers_total) by kind and "
    "reason: orphaned = the owner's lease ran out or it handed its leases back; in_dialog = a SIP "
    "request of the dialog reached this instance; presence = a stanza for a dead owner's row. "
    "rate(parley_store_handoffs_total): presence stanzas handed to (sent) or from (received) "
    "another instance, the subscription's owner. rate(parley_store_lease_renewals_total) by outcome.",
    [
        (rate("parley_store_takeovers_total", "kind, reason"), "takeover {{kind}} {{reason}}"),
        (rate("parley_store_handoffs_total", "direction"), "handoff {{direction}}"),
        (rate("parley_store_lease_renewals_total", "outcome"), "lease renewal {{outcome}}"),
    ],
    0, 18, unit="ops",
)
stat(
    "Store lease held",
    "parley_store_leases{state=held}: 1 while this instance's lease on its subscriptions is "
    "renewed in time; 0 when it lapsed (the store did not answer for store.lease_ms: the instance "
    "let go of every subscription and the others take them over).",
    [(f"min(parley_store_leases{{{SEL}, state=\"held\"}})", "")],
    18, 6, mappings=UPDOWN, thresholds=RED_GREEN,
)
next_line(8)

# --- Chat sessions -------------------------------------------------------------
row("Chat sessions (RFC 7573, MSRP)")
timeseries(
    "MSRP chat sessions open",
    "parley_msrp_sessions: chat sessions open now (sessions.enabled; limited by "
    "sessions.max_sessions and sessions.max_sessions_per_user).",
    [(f"sum(parley_msrp_sessions{{{SEL}}})", "open")],
    0, 12,
)
timeseries(
    "MSRP messages and refused INVITEs",
    "rate(parley_msrp_messages_total) by direction (messages carried in sessions each way) and "
    "rate(parley_msrp_session_refusals_total) by reason (INVITEs for a session refused: no or bad "
    "offer, no usable MSRP media, unmappable address, a limit, the component stream down).",
    [
        (rate("parley_msrp_messages_total", "direction"), "messages {{direction}}"),
        (rate("parley_msrp_session_refusals_total", "reason"), "refused {{reason}}"),
    ],
    12, 12, unit="ops",
)
next_line(8)
timeseries(
    "Sessions Parley started, and page-mode fallbacks",
    "rate(parley_msrp_session_starts_total) by outcome (sessions.start = always: opened, refused by "
    "the phone, unanswered within sessions.answer_secs, an unusable 2xx, failed) and "
    "rate(parley_msrp_fallback_messages_total) by reason (messages meant for a session sent as SIP "
    "MESSAGE: the session failed, or the phone refused one within sessions.fallback_secs).",
    [
        (rate("parley_msrp_session_starts_total", "outcome"), "start {{outcome}}"),
        (rate("parley_msrp_fallback_messages_total", "reason"), "fallback {{reason}}"),
    ],
    0, 12, unit="ops",
)
timeseries(
    "MSRP bytes and receipts",
    "rate(parley_msrp_bytes_total) by direction (message bodies carried in sessions) and "
    "rate(parley_msrp_reports_total) by direction (success REPORTs mapped to or from XMPP receipts, "
    "RFC 7573 §7).",
    [
        (rate("parley_msrp_bytes_total", "direction"), "bytes {{direction}}"),
        (rate("parley_msrp_reports_total", "direction"), "reports {{direction}}"),
    ],
    12, 12, unit="short",
)
next_line(8)

# --- Groupchat ----------------------------------------------------------------
row("Groupchat (RFC 7702 §6: SIP users in XMPP rooms)")
timeseries(
    "SIP users in XMPP rooms",
    "parley_groupchat_occupancies: SIP users in XMPP rooms now, joins under way included "
    "(groupchat.enabled; limited by groupchat.max_rooms_per_user).",
    [(f"sum(parley_groupchat_occupancies{{{SEL}}})", "in rooms")],
    0, 12,
)
timeseries(
    "Room joins",
    "rate(parley_groupchat_joins_total) by outcome: joined, refused by the room (members-only, "
    "banned, no such room, nickname taken), no answer within groupchat.join_secs, "
    "groupchat.max_rooms_per_user, a bad offer or address, cancelled, failed.",
    [(rate("parley_groupchat_joins_total", "outcome"), "{{outcome}}")],
    12, 12, unit="ops",
)
next_line(8)

# --- Conferences ---------------------------------------------------------------
row("Conferences (RFC 7702 §5: XMPP users in SIP conferences)")
timeseries(
    "XMPP users in SIP conferences",
    "parley_conference_occupancies: XMPP users in SIP conferences now, joins under way "
    "included (conference.enabled; limited by conference.max_per_user).",
    [(f"sum(parley_conference_occupancies{{{SEL}}})", "in conferences")],
    0, 12,
)
timeseries(
    "Conference joins",
    "rate(parley_conference_joins_total) by outcome: joined, the focus refused the INVITE, "
    "the switch refused the nickname, a step unanswered within conference.join_secs, "
    "conference.max_per_user, an address that cannot be mapped, failed.",
    [(rate("parley_conference_joins_total", "outcome"), "{{outcome}}")],
    12, 12, unit="ops",
)
next_line(8)

# --- Receipts and limits --------------------------------------------------------
row("Receipts, refusals, limits and trust")
timeseries(
    "Receipts",
    "rate(parley_receipts_total) by direction and kind (XEP-0184/XEP-0333 <-> RFC 5438 IMDN).",
    [(rate("parley_receipts_total", "direction, kind"), "{{direction}} {{kind}}")],
    0, 12, unit="ops",
)
timeseries(
    "SIP peers refusing content",
    "rate(parley_sip_peer_refusals_total) by content: 415 answers to CPIM or isComposing "
    "(Parley falls back to plain text for that peer).",
    [(rate("parley_sip_peer_refusals_total", "content"), "{{content}}")],
    12, 12, unit="ops",
)
next_line(8)
timeseries(
    "Limit rejections",
    "rate(parley_limit_rejections_total) by limit (design §5 bounds: per-source rates, "
    "pending transactions, queues, sizes, subscriptions per user).",
    [(rate("parley_limit_rejections_total", "limit"), "{{limit}}")],
    0, 12, unit="ops",
)
timeseries(
    "Trust rejections",
    "rate(parley_trust_rejections_total) by side: SIP requests claiming our users from "
    "untrusted peers (403) and stanzas forging the component's own domain.",
    [(rate("parley_trust_rejections_total", "side"), "{{side}}")],
    12, 12, unit="ops",
)
next_line(8)
timeseries(
    "XMPP messages not carried",
    "rate(parley_xmpp_messages_not_carried_total) by reason: messages refused with a "
    "stanza error because they cannot cross to SIP (OMEMO/OpenPGP encrypted, RFC 3923 "
    "<e2e/>, no text).",
    [(rate("parley_xmpp_messages_not_carried_total", "reason"), "{{reason}}")],
    0, 12, unit="ops",
)
next_line(8)

# --- Trunk registration ------------------------------------------------------------
row("Trunk registration (RFC 3261 §10.2)")
stat(
    "Trunk registered",
    "parley_trunk_registered: 1 while the contact is registered at the [trunk] registrar "
    "(/readyz needs it when [trunk] is set); 0 otherwise, and always 0 without [trunk].",
    [(f"parley_trunk_registered{{{SEL}}}", "{{instance}}")],
    0, 6, h=8, mappings=UPDOWN, thresholds=RED_GREEN,
)
timeseries(
    "Trunk REGISTER outcomes",
    "rate(parley_trunk_registrations_total) by outcome: registered (first or refresh), "
    "unregistered (shutdown), unreachable, refused (a final error status), credentials_refused "
    "(wrong username or password), unusable_challenge, interval_too_brief, not_bound.",
    [(rate("parley_trunk_registrations_total", "outcome"), "{{outcome}}")],
    6, 18, unit="ops",
)
next_line(8)

# --- Registrar --------------------------------------------------------------------
row("Registrar (RFC 3261 §10.3)")
timeseries(
    "Registrar bindings",
    "parley_registrar_bindings: contacts registered at Parley's [registrar] now (in memory: "
    "0 after a restart until the phones register again); always 0 without [registrar].",
    [(f"parley_registrar_bindings{{{SEL}}}", "{{instance}}")],
    0, 6,
)
timeseries(
    "Registrar digest checks",
    "rate(parley_registrar_auth_total) by outcome: accepted, challenged (no credentials yet: "
    "the normal first 401/407), refused (wrong password, forged nonce), stale (expired nonce), "
    "replay (nonce count not raised), forbidden (another user's credentials), unknown_user (404), "
    "unavailable (503: the store's users could not be read for 10 s). "
    "A rise of refused from one source is password guessing.",
    [(rate("parley_registrar_auth_total", "outcome"), "{{outcome}}")],
    6, 18, unit="ops",
)
next_line(8)

# --- Process ------------------------------------------------------------------
row("Process")
timeseries(
    "CPU",
    "rate(process_cpu_seconds_total): cores used.",
    [(rate("process_cpu_seconds_total", "instance"), "{{instance}}")],
    0, 8, unit="percentunit",
)
timeseries(
    "Memory",
    "process_resident_memory_bytes and process_virtual_memory_bytes.",
    [
        (f"process_resident_memory_bytes{{{SEL}}}", "resident {{instance}}"),
        (f"process_virtual_memory_bytes{{{SEL}}}", "virtual {{instance}}"),
    ],
    8, 8, unit="bytes",
)
timeseries(
    "File descriptors and threads",
    "process_open_fds against process_max_fds, and process_threads.",
    [
        (f"process_open_fds{{{SEL}}}", "open fds {{instance}}"),
        (f"process_max_fds{{{SEL}}}", "max fds {{instance}}"),
        (f"process_threads{{{SEL}}}", "threads {{instance}}"),
    ],
    16, 8,
)
next_line(8)


def var(name, label, query):
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": name},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


dashboard = {
    "__inputs": [],
    "annotations": {"list": []},
    "description": "Parley XMPP <-> SIP/SIMPLE gateway: every metric of README 'Health and metrics'.",
    "editable": True,
    "graphTooltip": 1,
    "links": [],
    "panels": panels,
    "refresh": "30s",
    "schemaVersion": 39,
    "tags": ["parley", "sip", "xmpp"],
    "templating": {
        "list": [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
            },
            var("job", "Job", "label_values(parley_build_info, job)"),
            var("instance", "Instance", 'label_values(parley_build_info{job=~"$job"}, instance)'),
        ]
    },
    "time": {"from": "now-6h", "to": "now"},
    "timepicker": {},
    "timezone": "",
    "title": "Parley",
    "uid": "parley-gateway",
    "version": 1,
}

text = json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"
if "--check" in sys.argv[1:]:
    if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
        print(f"{OUT} is stale: run python3 {sys.argv[0]}", file=sys.stderr)
        sys.exit(1)
else:
    OUT.write_text(text, encoding="utf-8")
