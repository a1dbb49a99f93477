from starlette.testclient import TestClient


def test_check_answers_minimal_body(api: TestClient) -> None:
    for method in ("GET", "POST"):
        response = api.request(method, "/api/check")
        assert response.status_code == 200
        assert response.json() == {"success": True}
