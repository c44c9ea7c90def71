import json
import os
from pathlib import Path

import pytest

from boxoffice.db.embedded import EmbeddedPostgres, prune_stale_handles


class TestStaleHandles:
    def test_dead_pids_are_pruned_and_live_ones_kept(self, tmp_path: Path) -> None:
        handles = tmp_path / ".handle_pids.json"
        handles.write_text(json.dumps([os.getpid(), 2**22 + 12345]))

        prune_stale_handles(tmp_path)

        assert json.loads(handles.read_text()) == [os.getpid()]

    def test_unreadable_list_is_reset(self, tmp_path: Path) -> None:
        (tmp_path / ".handle_pids.json").write_text("{not json")

        prune_stale_handles(tmp_path)

        assert json.loads((tmp_path / ".handle_pids.json").read_text()) == []


class TestDatabaseName:
    def test_refuses_a_name_that_is_not_an_identifier(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="not a plain database name"):
            EmbeddedPostgres(tmp_path, 'x"; DROP DATABASE postgres; --')
