using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Playwright;
using Quota.Console.Tests.Infrastructure;
using StbImageSharp;
using static Microsoft.Playwright.Assertions;

namespace Quota.Console.Tests;

/// <summary>
/// The console in a real browser (headless Chromium through Playwright) against a real silo whose data was made
/// through the HTTP API: every page shows that data, names that are markup render as text, the admin rule holds,
/// live pages follow new decisions, and every page's screenshot is a real picture.
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class ConsolePageTests(ConsoleFixture fixture)
{
    [Fact]
    public async Task WithoutATokenTheConsoleAnswersOnlyItsSignInPage()
    {
        using var anonymous = new HttpClient { BaseAddress = fixture.Host.BaseAddress };
        foreach (var path in (string[])["/console/", "/console/upstreams", "/console/subjects?kind=user&id=alice", "/console/scheduler", "/console/changes", "/console/queues"])
        {
            using var refused = await anonymous.GetAsync(path, TestContext.Current.CancellationToken);
            var body = await refused.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Contains("action=\"/console/sign-in\"", body, StringComparison.Ordinal);
            Assert.DoesNotContain("baselinker", body, StringComparison.Ordinal);
            Assert.DoesNotContain("alice", body, StringComparison.Ordinal);
        }

        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/console/upstreams");
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-token-0123456789");
        using var wrongAnswer = await anonymous.SendAsync(wrong, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, wrongAnswer.StatusCode); // a GET under a browser area gets the sign-in page
        Assert.DoesNotContain("baselinker", await wrongAnswer.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);

        // The browser's way in: a wrong token is refused, the right one sets a session cookie scoped to /console.
        var context = await fixture.Browser.NewContextAsync(new() { BaseURL = fixture.Host.BaseAddress.ToString() });
        var page = await context.NewPageAsync();
        Assert.Equal(401, (await page.GotoAsync("/console/upstreams"))!.Status);
        await page.FillAsync("input[name=token]", "not-the-token-0123456789");
        var refusedSignIn = await page.RunAndWaitForResponseAsync(() => page.ClickAsync("button[type=submit]"), r => r.Url.EndsWith("/console/sign-in", StringComparison.Ordinal));
        Assert.Equal(403, refusedSignIn.Status);
        Assert.Empty(await context.CookiesAsync());

        var signedIn = await fixture.SignedInPageAsync();
        var cookie = Assert.Single(await signedIn.Context.CookiesAsync());
        Assert.Equal(("quota-dashboard", "/console", true), (cookie.Name, cookie.Path, cookie.HttpOnly));
        Assert.DoesNotContain(fixture.Token, cookie.Value, StringComparison.Ordinal);
        await context.CloseAsync();
        await signedIn.Context.CloseAsync();
    }

    [Fact]
    public async Task OverviewShowsTheDenialWithTheMarkupNameAsText()
    {
        var page = await fixture.SignedInPageAsync();
        await page.GotoAsync("/console/");
        var row = page.Locator("#denials tr", new() { HasText = "tight" });
        await Expect(row).ToHaveCountAsync(1);
        Assert.Equal(["user", "tight", "1"], (await row.Locator("td").AllInnerTextsAsync()).Take(3));
        await Expect(row.Locator("a")).ToHaveTextAsync("user:" + ConsoleFixture.HostileUser);
        Assert.True(await page.EvaluateAsync<bool>("() => window.pwned === undefined"), "the user's name ran as a script");
        Assert.Equal(1, await page.Locator("script").CountAsync()); // console.js only
        await Expect(page.Locator("#storage")).ToHaveTextAsync("Durable writes get through.");
        await Expect(page.Locator("#waiting")).ToHaveTextAsync("0");

        // One silo: one row, the one serving the page, answering, its storage ok.
        var silo = page.Locator("#silos tr[data-silo]");
        await Expect(silo).ToHaveCountAsync(1);
        await Expect(silo.Locator("td").First).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@" \(this page\)$"));
        await Expect(silo.Locator("td").Last).ToHaveTextAsync("ok");
        await Expect(page.Locator("#cluster")).ToContainTextAsync("1 active silo, 1 answering");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task OverviewFollowsANewDecisionWithoutReloading()
    {
        var page = await fixture.SignedInPageAsync();
        await page.GotoAsync("/console/");
        var before = long.Parse(await page.Locator("#allowed-total").InnerTextAsync(), CultureInfo.InvariantCulture);
        await fixture.ExpectAsync(HttpStatusCode.OK, HttpMethod.Post, "/v1/acquire", """{"user":"bob"}""", admin: false);

        // The page is not reloaded: its script swaps in the new <main> (every 2 s), so waiting on the DOM is the signal.
        await Expect(page.Locator("#allowed-total")).ToHaveTextAsync((before + 1).ToString(CultureInfo.InvariantCulture), new() { Timeout = 20_000 });
        await Expect(page.Locator("main")).ToHaveAttributeAsync("data-refreshed", new System.Text.RegularExpressions.Regex("^20"));
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task UpstreamsShowsThePoolItsTenantAndItsTokens()
    {
        var page = await fixture.SignedInPageAsync();
        await page.GotoAsync("/console/upstreams");
        var pool = page.Locator("section[data-upstream=baselinker]");
        await Expect(pool.Locator(".capacity")).ToHaveTextAsync("200");
        var acme = pool.Locator("tr[data-tenant=acme] td");
        Assert.Equal(["acme", "premium"], (await acme.AllInnerTextsAsync()).Take(2));
        Assert.Equal("30", await acme.Nth(4).InnerTextAsync()); // reserved
        await Expect(pool.Locator("tr[data-token]")).ToHaveCountAsync(2);
        await Expect(pool.Locator("tr[data-token=bl-1] td").Nth(5)).ToHaveTextAsync("closed");
        await Expect(pool.Locator("tr[data-token=bl-1] .token-used")).ToContainTextAsync("/ 100 (100)");

        // The two decisions through the pool took a token each; which ones is the pool's choice. Tokens report their use
        // to the pool as they refresh, so the page's own live refresh is what is waited on (bounded), never a sleep.
        await page.WaitForFunctionAsync(
            "() => [...document.querySelectorAll('section[data-upstream=baselinker] .token-used')].reduce((sum, cell) => sum + parseInt(cell.textContent, 10), 0) === 2",
            null,
            new() { Timeout = 30_000 });
        await Expect(pool.Locator("svg.pool-bar")).ToHaveCountAsync(1);
        Assert.DoesNotContain("console-secret", await page.ContentAsync(), StringComparison.Ordinal);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task SubjectsShowsAUsersPoliciesUseAndHistory()
    {
        var page = await fixture.SignedInPageAsync();
        await page.GotoAsync("/console/subjects");
        await page.SelectOptionAsync("select[name=kind]", "user");
        await page.FillAsync("input[name=id]", "alice");
        await page.ClickAsync("button[type=submit]");
        await Expect(page.Locator("#subject")).ToHaveTextAsync("user:alice");
        var policy = page.Locator("tr[data-policy=in-flight] td");
        Assert.Equal(["in-flight", "concurrency", "10", "3", "7"], (await policy.AllInnerTextsAsync()).Take(5));
        await Expect(page.Locator("#history-totals")).ToHaveTextAsync("allowed 3 · denied 0 · permits 3");
        await Expect(page.Locator("#history g")).ToHaveCountAsync(1); // one minute with decisions

        // A raw key is refused, never looked up.
        await page.GotoAsync("/console/subjects?kind=key&id=qk_raw-key-value");
        await Expect(page.Locator(".problem")).ToContainTextAsync("never the raw key");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task SchedulerAndChangesShowRunsAndOldToNew()
    {
        var page = await fixture.SignedInPageAsync();
        await page.GotoAsync("/console/scheduler");
        await Expect(page.Locator("#scheduler-runs")).ToHaveTextAsync("1");
        await Expect(page.Locator("#no-held")).ToHaveCountAsync(1);

        await page.GotoAsync("/console/changes");
        var alice = page.Locator("#changes tr", new() { HasText = "user:alice" });
        await Expect(alice).ToHaveCountAsync(1);
        var cells = await alice.Locator("td").AllInnerTextsAsync();
        Assert.Equal("set", cells[3]);
        Assert.Contains("\"own\":false", cells[4], StringComparison.Ordinal);
        Assert.Contains("\"name\":\"in-flight\"", cells[5], StringComparison.Ordinal);
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task QueuesShowsDepthByPriorityAndThePlan()
    {
        var page = await fixture.SignedInPageAsync();
        await page.GotoAsync("/console/queues");
        var mail = page.Locator("section[data-queue=mail]");
        await Expect(mail.Locator("tr[data-priority=high] td").Nth(1)).ToHaveTextAsync("2");
        await Expect(mail.Locator("tr[data-priority=low] td").Nth(1)).ToHaveTextAsync("1");
        await Expect(mail.Locator("tr[data-priority=normal] td").Nth(1)).ToHaveTextAsync("0");
        await Expect(mail.Locator(".dead")).ToHaveTextAsync("0");
        await Expect(mail.Locator(".plan")).ToContainTextAsync("workers wanted");
        await page.Context.CloseAsync();
    }

    [Theory]
    [InlineData("overview", "/console/")]
    [InlineData("upstreams", "/console/upstreams")]
    [InlineData("subjects", "/console/subjects?kind=user&id=alice")]
    [InlineData("scheduler", "/console/scheduler")]
    [InlineData("changes", "/console/changes")]
    [InlineData("queues", "/console/queues")]
    public async Task EveryPageRendersAPicture(string name, string path)
    {
        var page = await fixture.SignedInPageAsync();
        var answer = await page.GotoAsync(path);
        Assert.Equal(200, answer!.Status);
        await Expect(page.Locator("header a.here")).ToHaveCountAsync(1);
        var file = Path.Combine(fixture.Screenshots, $"console-{name}.png");
        var png = await page.ScreenshotAsync(new() { Path = file, FullPage = true });

        var image = ImageResult.FromMemory(png, ColorComponents.RedGreenBlue);
        Assert.Equal(1280, image.Width);
        var colours = new HashSet<int>();
        for (var i = 0; i < image.Data.Length; i += 3)
        {
            colours.Add((image.Data[i] << 16) | (image.Data[i + 1] << 8) | image.Data[i + 2]);
        }

        // A blank or unstyled page has one or a few colours; text with anti-aliasing, the header and tables have hundreds.
        Assert.True(colours.Count > 100, $"{file}: only {colours.Count} distinct colours");
        await page.Context.CloseAsync();
    }

    [Fact]
    public async Task TheRootIsHtmlForABrowserAndJsonForAProgram()
    {
        using var http = new HttpClient { BaseAddress = fixture.Host.BaseAddress };
        using var browser = new HttpRequestMessage(HttpMethod.Get, "/");
        browser.Headers.Accept.ParseAdd("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
        using var html = await http.SendAsync(browser, TestContext.Current.CancellationToken);
        Assert.Equal("text/html", html.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<a href=\"/console/\">Quota console</a>", await html.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);

        foreach (var accept in (string?[])[null, "*/*", "application/json", "application/json, text/html;q=0.5"])
        {
            using var program = new HttpRequestMessage(HttpMethod.Get, "/");
            if (accept is not null)
            {
                program.Headers.Accept.ParseAdd(accept);
            }

            using var json = await http.SendAsync(program, TestContext.Current.CancellationToken);
            Assert.Equal("application/json", json.Content.Headers.ContentType?.MediaType);
            Assert.Contains("\"console\":\"/console\"", await json.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        }
    }
}
