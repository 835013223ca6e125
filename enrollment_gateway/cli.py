"""The `enrollment-gateway` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from .algorithms import HashAlgorithm, KeyAlgorithm
from .config import Config, ConfigError, StartupError, check_public_urls, load_config
from .errors import GatewayError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="enrollment-gateway",
                                description="Certificate enrollment gateway: ACME, EST, SCEP and a JSON API.")
    _common_options(p, argparse.SUPPRESS)
    # The same options after the subcommand too (`serve --demo --data-dir DIR`), as people type them.
    common = argparse.ArgumentParser(add_help=False)
    _common_options(common, argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True)

    def command(name: str, **kw) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kw)

    serve = command("serve", help="run the gateway (HTTPS + plain-HTTP listeners)")
    serve.add_argument("--demo", action="store_true",
                       help="on first start, set up demo CAs, profiles, an application and an admin token")

    admin = command("create-admin-token", help="create a gateway administrator and print its token once")
    admin.add_argument("--name", default="admin")

    ca = command("create-ca", help="create a root CA, or an intermediate under a CA the gateway holds")
    ca.add_argument("--name", required=True)
    ca.add_argument("--cn", required=True, help="the CA's common name")
    ca.add_argument("--org", help="organisation (O)")
    ca.add_argument("--key-algorithm", default="ECDSA_P256", choices=[k.value for k in KeyAlgorithm])
    ca.add_argument("--hash-algorithm", choices=[h.value for h in HashAlgorithm])
    ca.add_argument("--parent", help="id or name of the signing CA (omit for a root)")
    ca.add_argument("--validity-days", type=int, default=3650)
    ca.add_argument("--path-length", type=int)

    command("list-cas", help="list certificate authorities")
    command("endpoints", help="show every application's enrollment URLs")
    return p


def _common_options(p: argparse.ArgumentParser, default) -> None:
    p.add_argument("--config", default=default,
                   help="TOML settings file (see config.example.toml); EG_SECTION__KEY overrides")
    p.add_argument("--data-dir", default=default, help="where the embedded database, keys and demo.json live")
    # On every command, not only serve: the URLs a CA made by create-ca carries are built from the same settings
    # as those serve publishes at, so both must be told the same.
    p.add_argument("--host", default=default, help="listen address (server.host)")
    p.add_argument("--https-port", type=int, default=default, help="HTTPS listener port (server.https_port)")
    p.add_argument("--http-port", type=int, default=default, help="plain-HTTP listener port (server.http_port)")


def _config(args: argparse.Namespace) -> Config:
    args.config = getattr(args, "config", None)
    args.data_dir = getattr(args, "data_dir", None)
    config = load_config(args.config)
    server: dict[str, Any] = {}
    for flag, key in (("host", "host"), ("https_port", "https_port"), ("http_port", "http_port")):
        value = getattr(args, flag, None)
        if value is not None:
            server[key] = value
    storage = {"data_dir": args.data_dir} if args.data_dir else {}
    return config.replace(server=server, storage=storage) if server or storage else config


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = _config(args)
        if args.command == "serve":
            from .server.run import serve

            asyncio.run(serve(config, demo=args.demo))
            return 0
        return asyncio.run(_run_admin(args, config))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 2
    except GatewayError as exc:
        print(f"error: {exc.public_detail}", file=sys.stderr)
        for v in exc.subproblems:
            print(f"  - {v.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _run_admin(args: argparse.Namespace, config: Config) -> int:
    from .core.bootstrap import check_stamped_urls, create_admin, open_gateway
    from .domain import SYSTEM_ACTOR

    if args.command == "create-ca":
        check_public_urls(config)
    gateway = await open_gateway(config)
    try:
        if args.command == "create-admin-token":
            issued = await create_admin(gateway, args.name)
            print(json.dumps({"identity_id": issued.identity.id, "token": issued.token}))
        elif args.command == "create-ca":
            warning = await check_stamped_urls(gateway)
            if warning:
                print(warning, file=sys.stderr)
            subject = [("CN", args.cn)] + ([("O", args.org)] if args.org else [])
            common = dict(name=args.name, subject=subject, key_algorithm=KeyAlgorithm(args.key_algorithm),
                          hash_algorithm=HashAlgorithm(args.hash_algorithm) if args.hash_algorithm else None,
                          validity_days=args.validity_days, path_length=args.path_length)
            if args.parent:
                parent = next((c for c in await gateway.authorities.list() if args.parent in (c.id, c.name)), None)
                if parent is None:
                    print(f"error: no CA {args.parent!r}", file=sys.stderr)
                    return 1
                ca = await gateway.authorities.create_intermediate(SYSTEM_ACTOR, parent_id=parent.id, **common)
            else:
                ca = await gateway.authorities.create_root(SYSTEM_ACTOR, **common)
            print(json.dumps({"id": ca.id, "name": ca.name}))
            print(ca.certificate_pem, end="")
        elif args.command == "list-cas":
            for ca in await gateway.authorities.list():
                print(f"{ca.id}  {ca.status.value:<22} {ca.key_algorithm.value:<11} {ca.name}")
        elif args.command == "endpoints":
            for app in await gateway.applications.list(SYSTEM_ACTOR):
                for ep in await gateway.applications.endpoints(SYSTEM_ACTOR, app.id):
                    profile = await gateway.catalog.get_profile(ep.profile_id)
                    print(json.dumps({"application": app.name, "profile": profile.name, "endpoint": ep.id,
                                      **gateway.urls.endpoint_urls(ep.id, profile)}))
        return 0
    finally:
        await gateway.close()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
