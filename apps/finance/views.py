"""Company pages: list, detail with the statements table, add a company, enter a period, import a file."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from apps.core.exceptions import ApplicationError
from apps.core.pagination import paginate_page
from apps.core.uploads import limit_uploads, upload_refusal
from apps.finance import selectors, services
from apps.finance.forms import CompanyEditForm, CompanyForm, ImportForm, StatementForm
from apps.finance.importers import MAX_IMPORT_BYTES, CellError, ImportFailed, file_too_large
from apps.finance.line_items import LINE_ITEM_KEYS

VIEW_COMPANY, ADD_COMPANY = "finance.view_company", "finance.add_company"
ADD_STATEMENT = "finance.add_financialstatement"


@login_required
@permission_required(VIEW_COMPANY, raise_exception=True)
def company_list(request):
    companies = selectors.companies_for_user(request.user).prefetch_related("statements").order_by("name", "id")
    return render(request, "finance/company_list.html",
                  {"page_obj": paginate_page(request, companies), "team": request.user.team})


@login_required
@permission_required(ADD_COMPANY, raise_exception=True)
@require_http_methods(["GET", "POST"])
def company_new(request):
    companies = selectors.companies_for_user(request.user)
    if request.user.team_id is not None:
        companies = companies.filter(team_id=request.user.team_id)
    form = CompanyForm(request.POST or None, companies=companies)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                company = services.company_create(user=request.user, request=request, **form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"Created {company.name}.")
                return redirect("finance:company-detail", company_id=company.pk)
        status = 403 if request.user.team_id is None else 400
    return render(request, "finance/company_form.html", {"form": form, "no_team": request.user.team_id is None,
                                                         "heading": "Add a company", "submit": "Create"},
                  status=status)


@login_required
@permission_required(ADD_COMPANY, raise_exception=True)
@require_http_methods(["GET", "POST"])
def company_edit(request, company_id: int):
    company = selectors.company_for_user(request.user, company_id)
    companies = selectors.companies_for_user(request.user).filter(team_id=company.team_id).exclude(pk=company.pk)
    initial = {"ticker": company.ticker, "price_per_share": company.price_per_share, "peers": company.peers.all()}
    form = CompanyEditForm(request.POST or None, companies=companies, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.company_update(user=request.user, company=company, request=request, **form.cleaned_data)
            except ApplicationError as exc:
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            else:
                messages.success(request, f"Updated {company.name}.")
                return redirect("finance:company-detail", company_id=company.pk)
        status = 400
    return render(request, "finance/company_form.html", {"form": form, "heading": f"Edit {company.name}",
                                                         "submit": "Save", "company": company}, status=status)


@login_required
@permission_required(VIEW_COMPANY, raise_exception=True)
def company_detail(request, company_id: int):
    company = selectors.company_for_user(request.user, company_id)
    years, rows = selectors.statement_table(company)
    reports = None
    if request.user.has_perm("finance.view_report"):
        from apps.finance.reports.selectors import reports_for_user

        reports = reports_for_user(user=request.user).filter(company=company).order_by("-created_at", "-id")[:20]
    return render(request, "finance/company_detail.html", {
        "company": company, "years": years, "rows": rows, "peers": company.peers.order_by("name"),
        "reports": reports,
    })


@login_required
@permission_required(ADD_STATEMENT, raise_exception=True)
@require_http_methods(["GET", "POST"])
def statement_new(request, company_id: int):
    company = selectors.company_for_user(request.user, company_id)
    initial = None
    year = request.GET.get("year", "")
    if request.method == "GET" and year.isdigit():  # edit an existing year: the form starts from its values
        existing = selectors.statements_for_company(company).filter(fiscal_year=int(year)).first()
        if existing is not None:
            initial = {"fiscal_year": existing.fiscal_year, "period_end": existing.period_end,
                       **{k: "" if v is None else f"{v.normalize():f}" for k, v in existing.values().items()}}
    form = StatementForm(request.POST or None, initial=initial)
    errors: list[CellError] = []
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                result = services.statement_save(
                    user=request.user, company=company, fiscal_year=data["fiscal_year"],
                    period_end=data.get("period_end"), values={k: data.get(k) for k in LINE_ITEM_KEYS},
                    request=request)
            except ImportFailed as exc:
                errors = exc.errors
                for e in exc.errors:
                    form.add_error(e.column if e.column in form.fields else None, e.message)
            else:
                verb = "Replaced" if result.replaced_years else "Added"
                messages.success(request, f"{verb} fiscal year {result.years[0]}.")
                return redirect("finance:company-detail", company_id=company.pk)
        status = 400
    return render(request, "finance/statement_form.html", {"company": company, "form": form, "errors": errors},
                  status=status)


@csrf_exempt  # CSRF is checked by _statement_import, after the upload limit is in place (apps/core/uploads.py)
@login_required
@permission_required(ADD_STATEMENT, raise_exception=True)
@require_http_methods(["GET", "POST"])
def statement_import(request, company_id: int):
    company = selectors.company_for_user(request.user, company_id)
    if request.method == "POST":
        limit_uploads(request, {"file": MAX_IMPORT_BYTES})
    return _statement_import(request, company)


@csrf_protect
def _statement_import(request, company):
    form = ImportForm(request.POST or None, request.FILES or None)
    errors: list[CellError] = []
    status = 200
    if request.method == "POST":
        if upload_refusal(request) is not None:  # the file passed the limit; the rest was not read
            errors, form, status = file_too_large().errors, ImportForm(), 413
        elif form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                if upload.size > MAX_IMPORT_BYTES:
                    raise ImportFailed([CellError(None, None, f"the file is too large: {upload.size} bytes "
                                                              f"(at most {MAX_IMPORT_BYTES})")])
                result = services.statements_import_file(
                    user=request.user, company=company, content=upload.read(), filename=upload.name,
                    fmt=form.cleaned_data.get("format") or None, request=request)
            except ImportFailed as exc:
                errors = exc.errors
                form.add_error(None, exc.message)
            else:
                parts = []
                if result.created_years:
                    parts.append("added " + ", ".join(map(str, result.created_years)))
                if result.replaced_years:
                    parts.append("replaced " + ", ".join(map(str, result.replaced_years)))
                messages.success(request, f"Imported {result.format.upper()}: {'; '.join(parts)}.")
                return redirect("finance:company-detail", company_id=company.pk)
        status = status if status != 200 else 400
    return render(request, "finance/statement_import.html", {"company": company, "form": form, "errors": errors},
                  status=status)
