# CI stand-in for the mail catcher (`axllent/mailpit` in the compose files; see .ci/compose-test):
# maildev, the catcher the tests use on the host (.ci/mail), with SMTP on Mailpit's 1025 and its
# web UI and HTTP API on Mailpit's 8025. The build context is assembled by .ci/compose-test: the
# host's Node.js binary (node) and .ci/mail/node_modules (https is out of reach inside a build).
# Tagged tessera-ci/mail.
ARG BASE
FROM ${BASE}
# wget: the compose health check (Mailpit's Alpine image has it too, from busybox); maildev
# answers it on /api/healthz.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libstdc++6 wget \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10002 --user-group --home-dir /srv/mail --create-home maildev
COPY node /usr/local/bin/node
COPY node_modules /srv/mail/node_modules
USER maildev
WORKDIR /srv/mail
EXPOSE 1025 8025
ENTRYPOINT ["/usr/local/bin/node", "/srv/mail/node_modules/maildev/dist/bin/maildev.js"]
CMD ["--smtp", "1025", "--web", "8025", "--ip", "0.0.0.0", "--web-ip", "0.0.0.0"]
