"""The configuration: typed options, file + environment, and typos caught with a helpful message."""

import pytest

from ncloud.daemons.core import config


def write(tmp_path, text):
    path = tmp_path / "ncloud.conf"
    path.write_text(text)
    return path


def test_defaults_apply_when_no_file_is_given(tmp_path):
    conf = config.load(None, environ={})
    assert conf.default.report_interval == 10.0
    assert conf.scheduler.max_attempts == 3
    assert conf.conductor.build_timeout == 600.0


def test_file_values_are_typed(tmp_path):
    path = write(tmp_path, "[DEFAULT]\nreport_interval = 2.5\ndebug = yes\n[scheduler]\nmax_attempts = 5\n"
                           "enabled_filters = ComputeFilter, ResourceFilter\n")
    conf = config.load(path, environ={})
    assert conf.default.report_interval == 2.5
    assert conf.default.debug is True
    assert conf.scheduler.max_attempts == 5
    assert conf.scheduler.enabled_filters == ["ComputeFilter", "ResourceFilter"]
    assert conf.source("scheduler", "max_attempts") == f"{path}:5"


def test_unknown_option_names_file_line_and_closest_option(tmp_path):
    path = write(tmp_path, "[database]\n# comment\nconection = sqlite://\n")
    with pytest.raises(config.ConfigError) as error:
        config.load(path, environ={})
    assert str(error.value) == f"{path}:3: unknown option 'conection' in [database]; did you mean 'connection'?"


def test_option_in_the_wrong_section_says_where_it_belongs(tmp_path):
    path = write(tmp_path, "[api]\nmax_attempts = 4\n")
    with pytest.raises(config.ConfigError, match=r"ncloud.conf:2: unknown option 'max_attempts' in \[api\]; "
                                                 r"it belongs in \[scheduler\]"):
        config.load(path, environ={})


def test_unknown_section_is_an_error_with_suggestion(tmp_path):
    path = write(tmp_path, "[schedular]\nmax_attempts = 4\n")
    with pytest.raises(config.ConfigError, match=r":1: unknown section \[schedular\]; did you mean 'scheduler'"):
        config.load(path, environ={})


def test_wrong_type_is_an_error(tmp_path):
    path = write(tmp_path, "[api]\nbind_port = eighty\n")
    with pytest.raises(config.ConfigError, match=r":2: bind_port = 'eighty' is not a valid int"):
        config.load(path, environ={})


def test_value_below_minimum_is_an_error(tmp_path):
    path = write(tmp_path, "[scheduler]\nmax_attempts = 0\n")
    with pytest.raises(config.ConfigError, match="must be at least 1"):
        config.load(path, environ={})


def test_value_above_maximum_is_an_error(tmp_path):
    path = write(tmp_path, "[DEFAULT]\nbackground_nice = 20\n")
    with pytest.raises(config.ConfigError, match=r":2: background_nice = '20' must be at most 19"):
        config.load(path, environ={})


def test_environment_overrides_file(tmp_path):
    path = write(tmp_path, "[scheduler]\nmax_attempts = 5\n")
    conf = config.load(path, environ={"NCLOUD_SCHEDULER__MAX_ATTEMPTS": "7", "NCLOUD_DEFAULT__HOST": "h9"})
    assert conf.scheduler.max_attempts == 7
    assert conf.default.host == "h9"
    assert conf.source("scheduler", "max_attempts") == "$NCLOUD_SCHEDULER__MAX_ATTEMPTS"


def test_unknown_environment_option_is_an_error():
    with pytest.raises(config.ConfigError, match="unknown option 'max_attempt' in \\[scheduler\\]; did you mean"):
        config.load(None, environ={"NCLOUD_SCHEDULER__MAX_ATTEMPT": "7"})


def test_missing_named_file_is_an_error(tmp_path):
    with pytest.raises(config.ConfigError, match="cannot read configuration file"):
        config.load(tmp_path / "nope.conf", environ={})


def test_secrets_are_masked_in_effective_config():
    conf = config.load(None, environ={"NCLOUD_DATABASE__CONNECTION": "mysql+pymysql://nc:s3cret@db/ncloud",
                                      "NCLOUD_DEFAULT__TRANSPORT_URL": "amqp://guest:pw@mq:5672//"})
    shown = {(section, name): value for section, name, value, _ in conf.effective()}
    assert shown[("database", "connection")] == "mysql+pymysql://nc:***@db/ncloud"
    assert shown[("DEFAULT", "transport_url")] == "amqp://guest:***@mq:5672//"
    assert "s3cret" not in repr(conf.effective())


def test_sample_lists_every_option_and_loads_back(tmp_path):
    text = config.sample()
    from ncloud.daemons.core import options

    for section, opts in options.SECTIONS.items():
        assert f"[{section}]" in text
        for opt in opts:
            assert f"#{opt.name} = " in text
    uncommented = "\n".join(line[1:] if line.startswith("#") and " = " in line and not line.startswith("# ")
                            else line for line in text.splitlines())
    uncommented = uncommented.replace("<this machine's hostname>", "node1")
    conf = config.load(write(tmp_path, uncommented), environ={})
    assert conf.default.host == "node1"


def test_single_underscore_environment_option_is_caught_with_suggestion():
    with pytest.raises(config.ConfigError, match="did you mean 'NCLOUD_DATABASE__CONNECTION'"):
        config.load(None, environ={"NCLOUD_DATABASE_CONNECTION": "sqlite://"})


def test_other_ncloud_environment_variables_are_not_options():
    conf = config.load(None, environ={"NCLOUD_TEST_DBS": "sqlite"})
    assert conf.scheduler.max_attempts == 3


def test_an_unknown_scheduler_filter_is_caught_when_the_file_is_read(tmp_path):
    path = write(tmp_path, "[scheduler]\nenabled_filters = ComputeFilter, RamFilter\n")
    with pytest.raises(config.ConfigError, match=r":2: enabled_filters: 'RamFilter' is not one of: .*; did you mean "
                                                 r"'RetryFilter'"):
        config.load(path, environ={})


def test_filter_choices_are_the_scheduler_filters():
    from ncloud.daemons.core import options
    from ncloud.daemons.scheduler import filters

    assert set(options.find("scheduler", "enabled_filters").choices) == set(filters.ALL)


def test_task_timeouts_must_be_state_seconds_pairs(tmp_path):
    good = config.load(write(tmp_path, "[conductor]\ntask_timeouts = rebooting_hard:900, powering-off:120.5\n"),
                       environ={})
    assert good.conductor.task_timeouts == ["rebooting_hard:900", "powering-off:120.5"]
    with pytest.raises(config.ConfigError, match=r":2: task_timeouts: 'rebooting 900' is not of the form"):
        config.load(write(tmp_path, "[conductor]\ntask_timeouts = rebooting 900\n"), environ={})
