using System.Net;
using System.Text.Json.Nodes;

namespace Quota.Http.Tests.Infrastructure;

/// <summary>The tenancy admin API (<c>/v1/admin/upstreams</c>, <c>/v1/admin/tenants</c>) and the upstream endpoints; names escaped as path segments.</summary>
public static class TenancyApi
{
    public static Task<Reply> PutUpstream(this QuotaApi api, string name, object body) => api.PutJson(Upstream(name), body);

    public static Task<Reply> GetUpstream(this QuotaApi api, string name) => api.Get(Upstream(name));

    public static Task<Reply> DeleteUpstream(this QuotaApi api, string name) => api.Delete(Upstream(name));

    public static Task<Reply> PutToken(this QuotaApi api, string upstream, string id, object body) => api.PutJson(Token(upstream, id), body);

    public static Task<Reply> GetToken(this QuotaApi api, string upstream, string id) => api.Get(Token(upstream, id));

    public static Task<Reply> DeleteToken(this QuotaApi api, string upstream, string id) => api.Delete(Token(upstream, id));

    public static Task<Reply> PutTenant(this QuotaApi api, string id, object body) => api.PutJson(Tenant(id), body);

    public static Task<Reply> GetTenant(this QuotaApi api, string id) => api.Get(Tenant(id));

    public static Task<Reply> DeleteTenant(this QuotaApi api, string id) => api.Delete(Tenant(id));

    /// <summary>POST /v1/feedback.</summary>
    public static Task<Reply> Feedback(this QuotaApi api, object body) => api.PostJson("/v1/feedback", body);

    /// <summary>GET /v1/upstreams/{name}/allocation.</summary>
    public static Task<Reply> Allocation(this QuotaApi api, string name) => api.Get($"/v1/upstreams/{Uri.EscapeDataString(name)}/allocation");

    /// <summary>
    /// A fresh upstream with no buffer, a one-minute window and one pooled token per limit given (<c>t1</c>, <c>t2</c>,
    /// …), each with a fixed-window <c>per-minute</c> policy and the secret <c>{upstream}-{id}-secret</c>.
    /// </summary>
    public static async Task<string> NewUpstream(this QuotaApi api, params long[] tokenLimits)
    {
        var name = Ids.New("up-");
        (await api.PutUpstream(name, new { bufferPercent = 0, window = "00:01:00" })).Expect(HttpStatusCode.OK);
        for (var i = 0; i < tokenLimits.Length; i++)
        {
            var id = $"t{i + 1}";
            (await api.PutToken(name, id, new { secret = SecretOf(name, id), policies = new[] { Policies.FixedWindow("per-minute", tokenLimits[i]) } })).Expect(HttpStatusCode.OK);
        }

        return name;
    }

    /// <summary>The secret <see cref="NewUpstream"/> gives a token.</summary>
    public static string SecretOf(string upstream, string id) => $"{upstream}-{id}-secret";

    /// <summary>A fresh shared tenant of <paramref name="upstream"/> with <paramref name="reserved"/>.</summary>
    public static async Task<string> NewTenant(this QuotaApi api, string upstream, long reserved)
    {
        var id = Ids.New("ten-");
        (await api.PutTenant(id, new { upstream, reserved, strategy = "shared" })).Expect(HttpStatusCode.OK);
        return id;
    }

    /// <summary>The chosen token's id of an allowed acquire.</summary>
    public static string ChosenToken(Reply reply) => reply.Expect(HttpStatusCode.OK).Json["token"]!["id"]!.GetValue<string>();

    /// <summary>Every field named in a problem's errors, in order.</summary>
    public static string[] Fields(JsonObject problem) =>
        [.. problem["errors"]!.AsArray().Select(e => e!["field"]!.GetValue<string>())];

    private static string Upstream(string name) => $"/v1/admin/upstreams/{Uri.EscapeDataString(name)}";

    private static string Token(string upstream, string id) => $"{Upstream(upstream)}/tokens/{Uri.EscapeDataString(id)}";

    private static string Tenant(string id) => $"/v1/admin/tenants/{Uri.EscapeDataString(id)}";
}
