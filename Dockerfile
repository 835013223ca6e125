FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends openssl && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY enrollment_gateway ./enrollment_gateway
COPY protocols ./protocols
RUN pip install --no-cache-dir .
RUN useradd --system --home /var/lib/enrollment-gateway gateway && mkdir -p /var/lib/enrollment-gateway \
    && chown gateway /var/lib/enrollment-gateway
USER gateway
ENV EG_STORAGE__DATA_DIR=/var/lib/enrollment-gateway EG_SERVER__HOST=0.0.0.0
# Certificates carry the plain-HTTP URL (CRL, OCSP, CA issuer): give both public URLs at `docker run`, e.g.
#   -e EG_SERVER__PUBLIC_HTTP_URL=http://pki.example.com:8080 -e EG_SERVER__PUBLIC_HTTPS_URL=https://pki.example.com:8443
# Without them the gateway refuses to start rather than stamp 127.0.0.1 into what it issues. Every instance on
# one database also needs the same key-encryption key (EG_STORAGE__KEK, or the same kek.key in the volume).
VOLUME /var/lib/enrollment-gateway
EXPOSE 8443 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["enrollment-gateway"]
CMD ["serve"]
