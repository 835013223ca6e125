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
VOLUME /var/lib/enrollment-gateway
EXPOSE 8443 8080
STOPSIGNAL SIGTERM
ENTRYPOINT ["enrollment-gateway"]
CMD ["serve"]
