using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Playwright;
using Quota.Testing;

namespace Quota.Console.Tests.Infrastructure;

/// <summary>
/// One real silo with an admin token, the data the console shows (created through the real HTTP API), and a headless
/// Chromium driven by Playwright. Debian's <c>chromium</c> is used (<c>QUOTA_CHROMIUM</c> names another); .ci/run
/// installs it.
/// </summary>
public sealed class ConsoleFixture : IAsyncLifetime
{
    /// <summary>A user whose name is markup: the console must show it as text.</summary>
    public const string HostileUser = "<script>window.pwned=1</script>";

    private SiloProcess? _host;
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    /// <summary>The admin token the silo requires.</summary>
    public string Token { get; } = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));

    /// <summary>The running silo.</summary>
    public SiloProcess Host => _host ?? throw new InvalidOperationException("The silo has not started.");

    /// <summary>The browser.</summary>
    public IBrowser Browser => _browser ?? throw new InvalidOperationException("The browser has not started.");

    /// <summary>Where screenshots are written.</summary>
    public string Screenshots { get; } = Path.Combine(AppContext.BaseDirectory, "screenshots");

    public async ValueTask InitializeAsync()
    {
        _host = await SiloProcess.StartAsync([$"--Quota:Admin:Token={Token}", "--Quota:Scheduler:Enabled=false"]);
        await SeedAsync();
        var chromium = Environment.GetEnvironmentVariable("QUOTA_CHROMIUM") ?? "/usr/bin/chromium";
        if (!File.Exists(chromium))
        {
            throw new InvalidOperationException($"No Chromium at {chromium}: install Debian's chromium (apt-get install chromium, as .ci/run does) or set QUOTA_CHROMIUM.");
        }

        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new() { ExecutablePath = chromium, Args = ["--no-sandbox"] });
        Directory.CreateDirectory(Screenshots);
    }

    public async ValueTask DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }
    }

    /// <summary>A fresh browser context signed in to the console through its sign-in form.</summary>
    public async Task<IPage> SignedInPageAsync()
    {
        var context = await Browser.NewContextAsync(new() { BaseURL = Host.BaseAddress.ToString(), ViewportSize = new() { Width = 1280, Height = 900 } });
        var page = await context.NewPageAsync();
        var first = await page.GotoAsync("/console/");
        Assert.Equal(401, first!.Status);
        await page.FillAsync("input[name=token]", Token);
        await page.ClickAsync("button[type=submit]");
        await Assertions.Expect(page.Locator("header .brand")).ToHaveTextAsync("Quota console");
        return page;
    }

    /// <summary>Sends an admin or decision request with the token; returns status and body.</summary>
    public async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpMethod method, string path, string? json = null, bool admin = true)
    {
        using var request = new HttpRequestMessage(method, path);
        if (admin)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        }

        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        using var response = await Host.Http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Sends and asserts the status, with the silo's log on failure.</summary>
    public async Task<string> ExpectAsync(HttpStatusCode expected, HttpMethod method, string path, string? json = null, bool admin = true)
    {
        var (status, body) = await SendAsync(method, path, json, admin);
        Assert.True(status == expected, $"{method} {path}: expected {(int)expected}, got {(int)status}: {body}\n{Host.LogTail(30)}");
        return body;
    }

    /// <summary>
    /// An upstream <c>baselinker</c> with two tokens (100 an hour, a sliding log: what was taken stays taken for the
    /// tests' whole run), tenant <c>acme</c> with two
    /// decisions through the pool (each takes a token); user <c>alice</c> (10 in flight, held an hour: exact
    /// numbers, no window rolls over) with three decisions; the hostile user (1 in flight, policy <c>tight</c>) allowed once and denied once; queue <c>mail</c>
    /// with two high and one low item; one scheduler run.
    /// </summary>
    private async Task SeedAsync()
    {
        await ExpectAsync(HttpStatusCode.OK, HttpMethod.Put, "/v1/admin/upstreams/baselinker", """{"bufferPercent":0,"window":"01:00:00"}""");
        foreach (var token in new[] { "bl-1", "bl-2" })
        {
            await ExpectAsync(HttpStatusCode.OK, HttpMethod.Put, $"/v1/admin/upstreams/baselinker/tokens/{token}",
                $$"""{"secret":"console-secret-{{token}}","policies":[{"name":"per-hour","algorithm":"sliding-log","limit":100,"window":"01:00:00"}]}""");
        }

        await ExpectAsync(HttpStatusCode.OK, HttpMethod.Put, "/v1/admin/tenants/acme", """{"upstream":"baselinker","tier":"premium","reserved":30}""");
        await ExpectAsync(HttpStatusCode.OK, HttpMethod.Put, "/v1/admin/users/alice", """{"policies":[{"name":"in-flight","algorithm":"concurrency","limit":10,"leaseTtl":"01:00:00"}]}""");
        for (var i = 0; i < 3; i++)
        {
            await ExpectAsync(HttpStatusCode.OK, HttpMethod.Post, "/v1/acquire", """{"user":"alice"}""", admin: false);
        }

        for (var i = 0; i < 2; i++)
        {
            await ExpectAsync(HttpStatusCode.OK, HttpMethod.Post, "/v1/acquire", """{"tenant":"acme","upstream":"baselinker"}""", admin: false);
        }

        var hostile = Uri.EscapeDataString(HostileUser);
        await ExpectAsync(HttpStatusCode.OK, HttpMethod.Put, $"/v1/admin/users/{hostile}", """{"policies":[{"name":"tight","algorithm":"concurrency","limit":1,"leaseTtl":"01:00:00"}]}""");
        var body = System.Text.Json.JsonSerializer.Serialize(new { user = HostileUser });
        await ExpectAsync(HttpStatusCode.OK, HttpMethod.Post, "/v1/acquire", body, admin: false);
        await ExpectAsync(HttpStatusCode.TooManyRequests, HttpMethod.Post, "/v1/acquire", body, admin: false);

        await ExpectAsync(HttpStatusCode.OK, HttpMethod.Put, "/v1/admin/queues/mail", """{"dispatch":{"user":"mailer"},"maxAttempts":3}""");
        await ExpectAsync(HttpStatusCode.OK, HttpMethod.Post, "/v1/queues/mail/items",
            """[{"payload":{"n":1},"priority":"high"},{"payload":{"n":2},"priority":"high"},{"payload":{"n":3},"priority":"low"}]""", admin: false);
        await ExpectAsync(HttpStatusCode.OK, HttpMethod.Post, "/v1/admin/scheduler/run");
    }
}

/// <summary>The console tests share one silo and one browser, and run one after another (live numbers are exact).</summary>
[CollectionDefinition(Name)]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleFixture>
{
    public const string Name = "console";
}
