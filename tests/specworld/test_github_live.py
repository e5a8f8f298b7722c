"""GitHub's real REST description, served with `mockserver serve --spec` and driven by a real
GitHub SDK (githubkit, from PyPI): what is created is read back, listed, changed and deleted, and
the SDK's models parse every answer. The document is downloaded from the npm registry at test time."""

from __future__ import annotations

import typing as t
from pathlib import Path

import httpx
import pytest
from githubkit import GitHub
from githubkit.exception import RequestFailed
from live import serve
from octokit import github_description, github_description_31

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=["3.0", "3.1"])
def github_base(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[str]:
    document: Path = github_description() if request.param == "3.0" else github_description_31()
    cache = tmp_path_factory.mktemp("compiled")
    with serve("--spec", str(document), "--seed", "7", startup_timeout=120,
               env={"MOCKSERVER_CACHE_DIR": str(cache)}) as base:
        yield base


def _github(base: str) -> GitHub:
    return GitHub("ghp_mocked", base_url=base)


def test_an_issue_is_created_read_listed_and_updated(github_base: str) -> None:
    github = _github(github_base)
    issue = github.rest.issues.create("octo", "hello", title="It crashes", body="On start").parsed_data
    assert (issue.number, issue.title, issue.body) == (1, "It crashes", "On start")
    second = github.rest.issues.create("octo", "hello", title="Second").parsed_data
    assert second.number == 2  # numbered per repository
    read = github.rest.issues.get("octo", "hello", 1).parsed_data
    assert (read.id, read.title) == (issue.id, "It crashes")
    assert [i.number for i in github.rest.issues.list_for_repo("octo", "hello").parsed_data] == [1, 2]
    assert github.rest.issues.list_for_repo("octo", "other").parsed_data == []
    updated = github.rest.issues.update("octo", "hello", 1, title="It crashed", state="closed").parsed_data
    assert (updated.title, updated.state) == ("It crashed", "closed")
    assert github.rest.issues.get("octo", "hello", 1).parsed_data.state == "closed"


def test_a_milestone_is_deleted_then_not_found(github_base: str) -> None:
    github = _github(github_base)
    milestone = github.rest.issues.create_milestone("octo", "hello", title="v1.0").parsed_data
    assert github.rest.issues.get_milestone("octo", "hello", milestone.number).parsed_data.title == "v1.0"
    assert github.rest.issues.delete_milestone("octo", "hello", milestone.number).status_code == 204
    with pytest.raises(RequestFailed) as missing:
        github.rest.issues.get_milestone("octo", "hello", milestone.number)
    assert missing.value.response.status_code == 404
    assert missing.value.response.json()["message"] == "Not Found"  # GitHub's basic-error schema


def test_operations_without_a_resource_answer_what_the_sdk_parses(github_base: str) -> None:
    github = _github(github_base)
    # The description's own example of a repository lacks a required field: a generated one is answered.
    repository = github.rest.repos.get("octocat", "Hello-World").parsed_data
    assert repository.full_name and repository.owner.login
    assert github.rest.repos.get("octocat", "Hello-World").parsed_data == repository  # seeded: the same again
    user = github.rest.users.get_by_username("octocat").parsed_data
    assert user.login


def test_an_invalid_request_gets_the_documents_422(github_base: str) -> None:
    answer = httpx.post(f"{github_base}/repos/octo/hello/issues", json={"body": "no title"},
                        headers={"authorization": "Bearer ghp_mocked"})
    assert answer.status_code == 422
    body = answer.json()
    assert set(body) >= {"message", "documentation_url"} and "title" in body["message"]
    assert "detail" not in body
