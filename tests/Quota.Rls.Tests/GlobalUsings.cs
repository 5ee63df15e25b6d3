global using Quota.Rls.Tests.Infrastructure;
global using Quota.Server.Rls.Protocol;
global using static Quota.Rls.Tests.Infrastructure.Requests;
global using Code = Quota.Server.Rls.Protocol.RateLimitResponse.Types.Code;
global using Unit = Quota.Server.Rls.Protocol.RateLimitResponse.Types.RateLimit.Types.Unit;
