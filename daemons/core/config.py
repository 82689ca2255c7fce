"""The one configuration object every ncloud process reads.

Options come, in rising order of precedence, from their defaults (`options.py`), the INI file
(`/etc/ncloud/ncloud.conf` unless `--config-file` names another) and environment variables
`NCLOUD_<SECTION>__<OPTION>` (for containers and tests). A section or key nobody declared is an
error naming the file, the line and the closest valid name: a silently ignored typo is the classic
way an operator loses an afternoon.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ncloud.daemons.core import options

DEFAULT_CONFIG_FILE = "/etc/ncloud/ncloud.conf"
ENV_PREFIX = "NCLOUD_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A configuration problem, worded for the operator who has to fix it."""


def _closest(word: str, candidates) -> str:
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean '{match[0]}'?" if match else ""


def _convert(opt: options.Opt, raw: str, where: str) -> Any:
    value = raw.strip()
    try:
        if opt.kind is bool:
            if value.lower() in _TRUE:
                return True
            if value.lower() in _FALSE:
                return False
            raise ValueError("expected true or false")
        if opt.kind is list:
            converted: Any = [item.strip() for item in value.split(",") if item.strip()]
        elif opt.kind is int:
            converted = int(value)
        elif opt.kind is float:
            converted = float(value)
        else:
            converted = value
    except ValueError as exc:
        raise ConfigError(f"{where}: {opt.name} = {raw!r} is not a valid {opt.kind.__name__} ({exc})") from None
    if opt.choices:
        for item in converted if opt.kind is list else [converted]:
            if item not in opt.choices:
                raise ConfigError(f"{where}: {opt.name}: {item!r} is not one of: {', '.join(opt.choices)}"
                                  f"{_closest(item, opt.choices)}")
    if opt.pattern:
        for item in converted if opt.kind is list else [converted]:
            if not re.fullmatch(opt.pattern, item):
                raise ConfigError(f"{where}: {opt.name}: {item!r} is not of the form the option expects (see "
                                  f"'ncloud config sample')")
    if opt.minimum is not None and converted < opt.minimum:
        raise ConfigError(f"{where}: {opt.name} = {raw!r} must be at least {opt.minimum:g}")
    if opt.maximum is not None and converted > opt.maximum:
        raise ConfigError(f"{where}: {opt.name} = {raw!r} must be at most {opt.maximum:g}")
    return converted


def parse_ini(text: str, filename: str) -> dict[str, dict[str, tuple[str, int]]]:
    """Read INI text into {section: {key: (raw value, line number)}}, checking every name."""
    result: dict[str, dict[str, tuple[str, int]]] = {}
    section: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        where = f"{filename}:{number}"
        header = re.fullmatch(r"\[([^\]]+)\]", stripped)
        if header:
            section = header.group(1).strip()
            if section not in options.SECTIONS:
                raise ConfigError(f"{where}: unknown section [{section}]{_closest(section, options.SECTIONS)}")
            result.setdefault(section, {})
            continue
        if "=" not in stripped:
            raise ConfigError(f"{where}: expected 'key = value' or '[section]', found {stripped!r}")
        if section is None:
            raise ConfigError(f"{where}: option outside any section; start the file with [DEFAULT]")
        key, _, value = stripped.partition("=")
        key = key.strip()
        if options.find(section, key) is None:
            names = [opt.name for opt in options.SECTIONS[section]]
            elsewhere = [s for s in options.SECTIONS if options.find(s, key)]
            hint = f"; it belongs in [{elsewhere[0]}]" if elsewhere else _closest(key, names)
            raise ConfigError(f"{where}: unknown option '{key}' in [{section}]{hint}")
        result[section][key] = (value.strip(), number)
    return result


class Config:
    """Typed, read-only view of the configuration: `conf.database.connection`."""

    def __init__(self, values: dict[str, dict[str, Any]], sources: dict[tuple[str, str], str]):
        self._values = values
        self._sources = sources
        for section, opts in values.items():
            attr = "default" if section == "DEFAULT" else section
            setattr(self, attr, SimpleNamespace(**opts))

    def __getattr__(self, name: str):  # only reached for names that do not exist
        raise AttributeError(f"no configuration section '{name}'")

    def get(self, section: str, name: str) -> Any:
        return self._values[section][name]

    def source(self, section: str, name: str) -> str:
        """Where an option's value came from: 'default', 'FILE:LINE' or an environment variable."""
        return self._sources.get((section, name), "default")

    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> Config:
        """A copy with some values replaced (used to run several simulated hosts in one process)."""
        values = {section: dict(opts) for section, opts in self._values.items()}
        for section, opts in overrides.items():
            for name, value in opts.items():
                if options.find(section, name) is None:
                    raise ConfigError(f"unknown option [{section}] {name}")
                values[section][name] = value
        return Config(values, dict(self._sources))

    # Derived values live here so every daemon computes them the same way.
    @property
    def database_url(self) -> str:
        return self.database.connection or f"sqlite:///{Path(self.default.state_path) / 'ncloud.db'}"

    @property
    def image_store_path(self) -> Path:
        return Path(self.image.store_path or Path(self.default.state_path) / "images")

    @property
    def instances_path(self) -> Path:
        return Path(self.compute.instances_path or Path(self.default.state_path) / "instances")

    @property
    def api_spool_path(self) -> Path:
        return Path(self.api.spool_path or Path(self.default.state_path) / "spool")

    @property
    def token_key_repository(self) -> Path:
        return Path(self.identity.key_repository or Path(self.default.state_path) / "token-keys")

    def effective(self, mask_secrets: bool = True) -> list[tuple[str, str, Any, str]]:
        """(section, option, value, source) for every option, secrets masked."""
        rows = []
        for section, opts in options.SECTIONS.items():
            for opt in opts:
                value = self._values[section][opt.name]
                if mask_secrets and opt.secret:
                    value = mask(value)
                rows.append((section, opt.name, value, self.source(section, opt.name)))
        return rows


def mask(value: Any) -> Any:
    """Hide the password of a URL (or a whole secret that is not a URL)."""
    if not isinstance(value, str) or not value:
        return value
    parts = urlsplit(value)
    if parts.scheme and "@" in parts.netloc:
        userinfo, _, hostport = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))
    if parts.scheme:
        return value
    return "***"


def load(path: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None,
         overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Config:
    """Build the configuration from defaults, the file, the environment and explicit overrides.

    `path=None` reads /etc/ncloud/ncloud.conf when it exists; a named file must exist.
    """
    environ = os.environ if environ is None else environ
    values = {section: {opt.name: opt.default for opt in opts} for section, opts in options.SECTIONS.items()}
    sources: dict[tuple[str, str], str] = {}
    if path is None and Path(DEFAULT_CONFIG_FILE).exists():
        path = DEFAULT_CONFIG_FILE
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
        for section, keys in parse_ini(text, str(path)).items():
            for key, (raw, line) in keys.items():
                where = f"{path}:{line}"
                values[section][key] = _convert(options.find(section, key), raw, where)
                sources[(section, key)] = where
    for variable, raw in environ.items():
        if not variable.startswith(ENV_PREFIX):
            continue
        section_key = variable[len(ENV_PREFIX):]
        section_part, sep, key = section_key.partition("__")
        section = "DEFAULT" if section_part.upper() == "DEFAULT" else section_part.lower()
        key = key.lower()
        if not sep:
            # Not meant as an option (e.g. NCLOUD_TEST_DBS), unless it starts like one.
            for known in options.SECTIONS:
                if section_key.upper().startswith(f"{known.upper()}_"):
                    suggestion = f"{ENV_PREFIX}{known.upper()}__{section_key[len(known) + 1:]}"
                    raise ConfigError(f"environment variable {variable}: options are set as "
                                      f"{ENV_PREFIX}<SECTION>__<OPTION> (two underscores); did you mean "
                                      f"'{suggestion}'?")
            continue
        if section not in options.SECTIONS:
            known = [f"{ENV_PREFIX}{s.upper()}" for s in options.SECTIONS]
            raise ConfigError(f"environment variable {variable}: unknown section '{section_part}'"
                              f"{_closest(f'{ENV_PREFIX}{section_part}', known)}")
        opt = options.find(section, key)
        if opt is None:
            names = [o.name for o in options.SECTIONS[section]]
            raise ConfigError(f"environment variable {variable}: unknown option '{key}' in [{section}]"
                              f"{_closest(key, names)}")
        values[section][key] = _convert(opt, raw, f"environment variable {variable}")
        sources[(section, key)] = f"${variable}"
    for section, opts in (overrides or {}).items():
        for key, value in opts.items():
            if options.find(section, key) is None:
                raise ConfigError(f"unknown option [{section}] {key}")
            values[section][key] = value
            sources[(section, key)] = "command line"
    return Config(values, sources)


def from_command_line(prog: str, argv: list[str] | None, description: str | None = None) -> Config:
    """The configuration a daemon's command line names (`--config-file`); a bad one is a message
    naming the problem and exit status 2, never a traceback."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog=prog, description=description or f"Run {prog}.")
    parser.add_argument("--config-file", help=f"configuration file (default {DEFAULT_CONFIG_FILE})")
    args = parser.parse_args(argv)
    try:
        return load(args.config_file)
    except ConfigError as error:
        print(f"{prog}: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def sample() -> str:
    """A commented configuration file listing every option with its default."""
    lines = ["# ncloud configuration (/etc/ncloud/ncloud.conf).",
             "# Every option can also be set as NCLOUD_<SECTION>__<OPTION> in the environment.", ""]
    for section, opts in options.SECTIONS.items():
        lines.append(f"[{section}]")
        for opt in opts:
            lines.append(f"# {opt.help}")
            detail = f"({opt.kind.__name__}"
            if opt.choices:
                detail += f"; one of: {', '.join(opt.choices)}"
            if opt.minimum is not None:
                detail += f"; minimum {opt.minimum:g}"
            if opt.maximum is not None:
                detail += f"; maximum {opt.maximum:g}"
            lines.append(f"# {detail})")
            default = opt.default
            if opt.kind is list:
                default = ",".join(default)
            elif opt.kind is bool:
                default = "true" if default else "false"
            if opt.name == "host":
                default = "<this machine's hostname>"
            lines.append(f"#{opt.name} = {default}")
            lines.append("")
    return "\n".join(lines)
