from pathlib import Path

HERE = Path(__file__).resolve().parent


def pytest_addoption(parser):
    parser.addoption("--html-dir", default=str(HERE.parent / "_build" / "html"), help="the built site")
    parser.addoption("--screenshots", default=None, help="where to write the screenshots")
