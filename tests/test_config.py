from __future__ import annotations

from pathlib import Path

import pytest

from visionati_sync.config import ConfigError, load_config, missing_folders, state_directory


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_documented_contract(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), environ={})
    s = config.settings
    assert s.api.base_url == "https://api.visionati.com"
    assert s.api.features == ["tags", "descriptions"]
    assert s.api.backends == []
    assert (s.api.poll_interval, s.api.batch_size) == (2.0, 8)
    assert s.sidecars.json_suffix == ".visionati.json"
    assert s.watch.settle_seconds == 2.0
    assert config.api_key is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "folders:\n  - path: a\n  - path: b\n    recursive: maybe\n",
            "config.yaml: folders[1].recursive: Input should be a valid boolean",
        ),
        ("api:\n  batch_size: 0\n", "config.yaml: api.batch_size: Input should be greater than"),
        ("api:\n  backends: [openai, gpt9]\n", "config.yaml: api.backends: unknown backend 'gpt9'"),
        (
            "api:\n  feature: [tags]\n",
            "config.yaml: api.feature: unknown key; did you mean 'features'?",
        ),
        (
            "folders:\n  - path: a\n    recursiv: no\n",
            "config.yaml: folders[0].recursiv: unknown key; did you mean 'recursive'?",
        ),
        (
            "sidecar:\n  apply: review\n",
            "config.yaml: sidecar: unknown key; did you mean 'sidecars'?",
        ),
        (
            "notify:\n  immich:\n    url: http://i\n    keyfile: k\n",
            "config.yaml: notify.immich.keyfile: unknown key; did you mean 'key_file'?",
        ),
        ("api:\n  zebra: 1\n", "config.yaml: api.zebra: unknown key"),
        ("api:\n  role: pirate\n", "config.yaml: api.role: unknown role 'pirate'"),
        ("api:\n  base_url: ftp://x\n", "config.yaml: api.base_url: must be an http"),
        (
            "sidecars:\n  json_suffix: .json\n",
            "config.yaml: sidecars.json_suffix: '.json' would clobber",
        ),
        (
            "sidecars:\n  formats: [pdf]\n",
            "config.yaml: sidecars.formats[0]: Input should be 'xmp' or 'json'",
        ),
        ("- just\n- a list\n", "config.yaml: (top level): must be a mapping"),
        ("api: {key: [unclosed\n", "config.yaml: line 2, column 1: not valid YAML"),
    ],
)
def test_every_error_names_file_key_path_and_problem(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert str(caught.value).startswith(str(path).replace("config.yaml", "") + message)


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, "api:\n  batch_size: 0\n  tag_score: 2\n"), environ={})
    assert "api.batch_size" in str(caught.value) and "api.tag_score" in str(caught.value)


def test_a_folder_path_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "photo.jpg").write_bytes(b"x")
    with pytest.raises(ConfigError, match=r"folders\[0\]\.path: not a directory"):
        load_config(write(tmp_path, "folders:\n  - path: photo.jpg\n"), environ={})


def test_missing_folder_is_reported_but_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "here").mkdir()
    config = load_config(
        write(tmp_path, "folders:\n  - path: here\n  - path: not-mounted\n"), environ={}
    )
    assert config.settings.folders[0].path == tmp_path / "here"  # relative to the file
    assert missing_folders(config) == [
        f"{tmp_path}/config.yaml: folders[1].path: directory does not exist "
        f"({tmp_path / 'not-mounted'})"
    ]


def test_the_environment_key_wins_then_a_credential_then_key_file_then_key(
    tmp_path: Path,
) -> None:
    (tmp_path / "key").write_text("from-file\n")
    credentials = tmp_path / "credentials"  # as systemd's LoadCredential= makes it
    credentials.mkdir()
    (credentials / "api-key").write_text("from-credential\n")
    path = write(tmp_path, "api:\n  key: from-config\n  key_file: key\n")
    systemd = {"CREDENTIALS_DIRECTORY": str(credentials)}
    assert load_config(path, environ={"VISIONATI_API_KEY": "from-env", **systemd}).api_key == (
        "from-env"
    )
    assert load_config(path, environ=systemd).api_key == "from-credential"
    (credentials / "api-key").write_text("")
    with pytest.raises(ConfigError, match=r"CREDENTIALS_DIRECTORY/api-key .*: the file is empty"):
        load_config(path, environ=systemd)
    (credentials / "api-key").unlink()  # a credentials folder without ours: the next source
    assert load_config(path, environ=systemd).api_key == "from-file"
    assert load_config(path, environ={}).api_key == "from-file"
    path = write(tmp_path, "api:\n  key: from-config\n")
    assert load_config(path, environ={}).api_key == "from-config"


def test_every_file_the_config_names_is_found_beside_it_and_read_from_its_source(
    tmp_path: Path,
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in ("immich", "prism", "hook", "ui"):
        (secrets / name).write_text(f"{name}-from-file\n")
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "immich-key").write_text("immich-from-credential\n")
    path = write(tmp_path, (
        "keywords:\n  exclude_file: lists/never.txt\nui:\n  password_file: secrets/ui\n"
        "notify:\n  immich: {url: 'http://i', key_file: secrets/immich}\n"
        "  photoprism: {url: 'http://p', token_file: secrets/prism, path_map: {/a: ''}}\n"
        "  webhook: {url: 'http://w', secret_file: secrets/hook}\n"
    ))  # fmt: skip
    config = load_config(path, environ={})
    assert config.settings.keywords.exclude_file == tmp_path / "lists" / "never.txt"
    assert [config.secret(n) for n in ("immich", "photoprism", "webhook", "ui")] == [
        "immich-from-file", "prism-from-file", "hook-from-file", "ui-from-file",
    ]  # fmt: skip
    with_env = {"CREDENTIALS_DIRECTORY": str(credentials), "VISIONATI_SYNC_WEBHOOK_SECRET": "env"}
    config = load_config(path, environ=with_env)
    assert (config.secret("immich"), config.secret("webhook")) == ("immich-from-credential", "env")
    assert set(config.secrets()) >= {"immich-from-credential", "env", "ui-from-file"}


def test_unreadable_key_file_is_a_clear_error(tmp_path: Path) -> None:
    path = write(tmp_path, "api:\n  key_file: nowhere/key\n")
    with pytest.raises(ConfigError, match=r"config.yaml: api.key_file: cannot read"):
        load_config(path, environ={})


def test_the_key_never_shows_in_repr(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "api:\n  key: sk-very-secret\n"), environ={})
    assert "sk-very-secret" not in repr(config)
    assert "sk-very-secret" not in repr(config.settings)


def test_state_directory_order() -> None:
    assert state_directory({"STATE_DIRECTORY": "/var/lib/vs"}) == Path("/var/lib/vs")
    assert state_directory({"XDG_STATE_HOME": "/x"}) == Path("/x/visionati-sync")
    assert state_directory({"HOME": "/home/u"}) == Path("/home/u/.local/state/visionati-sync")


def test_folders_named_twice_or_nested_are_one_folder_each(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    (lib / "sub").mkdir(parents=True)
    (tmp_path / "alias").symlink_to(lib)
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        "folders:\n  - path: lib\n  - path: lib/../lib\n  - path: alias\n"
        "  - path: lib/sub\n    recursive: false\n"
    )
    config = load_config(config_file, environ={})
    folders = config.settings.folders
    assert [f.path for f in folders] == [lib, lib / "sub"]
    assert [f.label for f in folders] == ["folders[0]", "folders[3]"]
    assert folders[0].inside == {"sub"} and folders[1].inside == frozenset()
    assert config.warnings == [
        f"{config_file}: folders[1].path: the same folder as folders[0] ({lib}); "
        "watched once, with the first entry's settings",
        f"{config_file}: folders[2].path: the same folder as folders[0] ({lib}); "
        "watched once, with the first entry's settings",
        f"{config_file}: folders[3].path lies inside folders[0].path: its files are "
        "folders[3]'s, with its options",
    ]


def test_a_folder_is_known_by_its_name_which_no_other_folder_may_take(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    config = load_config(
        write(tmp_path, "folders:\n  - path: a\n    name: studio\n  - path: b\n"), environ={}
    )
    assert config.folder_names().by_path == {
        str(tmp_path / "a"): "studio", str(tmp_path / "b"): str(tmp_path / "b"),
    }  # fmt: skip
    with pytest.raises(ConfigError, match=r"folders\[1\]\.name: 'studio' names folders\[0\]"):
        load_config(
            write(tmp_path, "folders:\n  - {path: a, name: studio}\n  - {path: b, name: studio}\n"),
            environ={},
        )
    with pytest.raises(ConfigError, match=r"database\.lease_seconds"):
        load_config(write(tmp_path, "database:\n  lease_seconds: 0\n"), environ={})


def test_keyword_rules_come_per_folder_over_the_defaults_and_older_names(tmp_path: Path) -> None:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop-words.txt").write_text("Products|Shoes\nProducts|Bags\n")
    config = load_config(
        write(
            tmp_path,
            "sidecars: {max_keywords: 7, marker_keyword: auto-tagged}\n"
            "keywords: {exclude: [person], rename: {Automobile: car}}\n"
            "folders:\n"
            "  - path: shop\n"
            "    apply: review\n"
            "    keywords: {vocabulary: shop-words.txt, unmatched: drop}\n"
            f"  - path: {tmp_path}\n",
        ),
        environ={},
    )
    shop = config.keyword_rules(tmp_path / "shop")
    assert shop.vocabulary is not None and shop.vocabulary.match("shoes") == ("Products", "Shoes")
    assert (shop.unmatched, shop.exclude, shop.max, shop.marker) == (
        "drop",
        ("person",),
        7,
        "auto-tagged",
    )  # the folder's keys over the section's; the older name read as keywords.max
    assert shop.rename == {"automobile": "car"}
    rest = config.keyword_rules(tmp_path)
    assert (rest.vocabulary, rest.unmatched) == (None, "under-root")
    assert config.reviewed(tmp_path / "shop") and not config.reviewed(tmp_path)


def test_a_vocabulary_that_cannot_be_read_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "words.txt").write_text("{Canine}\n")
    for vocabulary, problem in (("missing.txt", "cannot read"), ("words.txt", "line 1")):
        text = f"keywords: {{vocabulary: {vocabulary}}}\n"
        with pytest.raises(ConfigError, match=f"keywords.vocabulary: .*{vocabulary}: {problem}"):
            load_config(write(tmp_path, text), environ={})


def test_never_this_word_again_appends_once_to_the_users_own_list(tmp_path: Path) -> None:
    """The review page's "never this word again": a word already there (in any case) is not
    added twice, a list the user typed without a final newline keeps its last word whole,
    and pages adding words at once lose none."""
    from concurrent.futures import ThreadPoolExecutor

    from visionati_sync.config.exclusions import add_exclusion, read_exclusions

    listed = tmp_path / "never.txt"
    listed.write_text("# mine\ndog  # not dogs\nsky")
    assert add_exclusion(listed, "Dog") is False
    assert add_exclusion(listed, "  red   car ") is True
    assert listed.read_text() == "# mine\ndog  # not dogs\nsky\nred car\n"
    words = [f"word{n}" for n in range(40)]
    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(lambda w: add_exclusion(listed, w), words))
    found = read_exclusions(listed)
    assert found[:3] == ("dog", "sky", "red car")
    assert sorted(found[3:]) == sorted(words)  # each once, in whatever order they came
