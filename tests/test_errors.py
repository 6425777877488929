"""HTTP errors: the documented JSON on API paths, a Russian page for browsers."""

from __future__ import annotations


def test_unknown_page_in_a_browser_gets_a_russian_404_page(client):
    resp = client.get("/no-such-page", headers={"Accept": "text/html"})
    assert resp.status_code == 404
    assert resp.mimetype == "text/html"
    body = resp.get_data(as_text=True)
    assert "Страница не найдена" in body
    assert "Not Found" not in body  # not Werkzeug's English page


def test_unknown_api_path_keeps_the_json_error_body(client):
    resp = client.get("/api/no-such-endpoint")
    assert resp.status_code == 404
    assert resp.get_json() == {"status": "error", "failure_reason": "not_found", "message": "Не найдено"}


def test_wrong_method_page_keeps_its_allow_header(client):
    resp = client.delete("/healthz", headers={"Accept": "text/html"})
    assert resp.status_code == 405
    assert "GET" in resp.headers["Allow"]
    assert "Действие недоступно" in resp.get_data(as_text=True)


def test_unhandled_error_in_a_page_is_a_russian_500(app, client, monkeypatch):
    import photochanger.admin.pages as pages

    def boom(*_args, **_kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(pages, "render_template", boom)
    resp = client.get("/admin/login", headers={"Accept": "text/html"})
    assert resp.status_code == 500
    assert "Внутренняя ошибка сервера" in resp.get_data(as_text=True)


def test_over_long_ids_in_urls_are_404_without_a_query(client):
    long_id = "a" * 65
    for path in (f"/api/jobs/{long_id}", f"/public/results/{long_id}", f"/public/provider-media/{long_id}"):
        resp = client.get(path)
        assert resp.status_code == 404, path
        assert resp.get_json()["status"] == "error"


def test_the_site_root_leads_to_the_admin_pages(client):
    resp = client.get("/", headers={"Accept": "text/html"})
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/admin/")
