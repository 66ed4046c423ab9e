#!/bin/sh
# Create the trial account (again: register overwrites the password), then run
# Prosody in the foreground so that it receives the container's SIGTERM.
set -eu
prosodyctl register "${TRIAL_USER:-juliet}" localhost "${TRIAL_PASSWORD:-juliet-pw}"
exec prosody -F
