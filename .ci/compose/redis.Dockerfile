# CI stand-in for the official `redis` image (see .ci/compose-test): Debian's Redis 7.0 on the
# debootstrapped base. Like the official image, protected mode is off (compose reaches it over
# its network without a password) and /data is the working directory. Tagged tessera-ci/redis.
ARG BASE
FROM ${BASE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["redis-server"]
