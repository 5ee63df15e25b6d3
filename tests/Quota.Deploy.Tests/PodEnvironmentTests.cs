using System.Net;
using Quota.Server.Hosting;

namespace Quota.Deploy.Tests;

/// <summary>How the silo reads the pod it runs in, and when it warns about an address nobody else can dial.</summary>
public sealed class PodEnvironmentTests
{
    private static Func<string, string?> Variables(string? name, string? @namespace, string? address) => variable => variable switch
    {
        "POD_NAME" => name,
        "POD_NAMESPACE" => @namespace,
        "POD_IP" => address,
        _ => throw new InvalidOperationException($"The silo read {variable}, which pod mode does not use."),
    };

    [Fact]
    public void Outside_a_pod_nothing_is_read_and_nothing_is_wrong()
    {
        var problems = new List<string>();

        Assert.Null(PodEnvironment.Read(Variables(null, "", "  "), problems));
        Assert.Empty(problems);
    }

    [Fact]
    public void In_a_pod_the_name_namespace_and_address_come_from_the_downward_API_variables()
    {
        var problems = new List<string>();

        var pod = PodEnvironment.Read(Variables("quota-silo-abc", "quota", "10.42.0.17"), problems);

        Assert.Empty(problems);
        Assert.Equal(new PodEnvironment("quota-silo-abc", "quota", IPAddress.Parse("10.42.0.17")), pod);
    }

    [Fact]
    public void A_pod_without_an_IP_and_with_a_bad_one_are_refused_naming_the_variable()
    {
        var missing = new List<string>();
        var bad = new List<string>();

        Assert.Null(PodEnvironment.Read(Variables("quota-silo-abc", "quota", null), missing));
        Assert.Null(PodEnvironment.Read(Variables("quota-silo-abc", "quota", "fe80::zz"), bad));

        Assert.Equal(
            ["POD_IP is not set, but POD_NAME and POD_NAMESPACE are: in a pod set all of POD_NAME, POD_NAMESPACE, POD_IP from the downward API (metadata.name, metadata.namespace, status.podIP; deploy/k8s/base does), outside one set none."],
            missing);
        Assert.Equal(["POD_IP is 'fe80::zz', which is not an IP address; set it from the downward API (fieldRef: status.podIP)."], bad);
    }

    [Theory]
    [InlineData("127.0.0.1", "0.0.0.0", true)]
    [InlineData("127.0.0.1", "::", true)]
    [InlineData("::1", "0.0.0.0", true)]
    [InlineData("127.0.0.1", null, false)]
    [InlineData("127.0.0.1", "127.0.0.1", false)]
    [InlineData("10.0.0.5", "0.0.0.0", false)]
    public void Advertising_loopback_while_listening_on_every_interface_is_what_the_silo_warns_about(string advertised, string? listen, bool warned)
    {
        var cluster = new QuotaClusterOptions { AdvertisedAddress = advertised, ListenAddress = listen };

        Assert.Equal(warned, SiloPlacement.AdvertisesLoopbackToEveryInterface(cluster));
    }
}
