using System.Text;
using Cdp.Server.Binary;
using Xunit;

namespace Cdp.Tests;

/// <summary>The per-thread table of request names: a name read twice is one string, and a full or clashing table still answers right.</summary>
public sealed class RequestNameCacheTests
{
    [Fact]
    public void The_same_bytes_give_the_same_string_and_different_bytes_their_own()
    {
        var a = RequestNameCache.Name("sku"u8);
        var b = RequestNameCache.Name("sku"u8);
        Assert.Equal("sku", a);
        Assert.Same(a, b);
        Assert.Equal("skü", RequestNameCache.Name("skü"u8));
        Assert.Same(RequestNameCache.Path("properties", a), RequestNameCache.Path("properties", b));
        Assert.Equal("properties.sku", RequestNameCache.Path("properties", a));
    }

    [Fact]
    public void Many_more_names_than_slots_are_all_read_back_exactly()
    {
        // Far more names than the table has slots, so most slots are taken over by another name.
        for (int round = 0; round < 2; round++)
            for (int i = 0; i < 20_000; i++)
            {
                var name = "name-" + i;
                Assert.Equal(name, RequestNameCache.Name(Encoding.UTF8.GetBytes(name)));
                Assert.Equal("p." + name, RequestNameCache.Path("p", RequestNameCache.Name(Encoding.UTF8.GetBytes(name))));
            }
    }
}

/// <summary>Normalising an identifier keeps the caller's string when it is already in normal form.</summary>
public sealed class IdentifierNormalizerStringTests
{
    [Fact]
    public void A_value_already_normal_is_returned_as_it_is_and_any_other_is_rewritten()
    {
        var normalizer = new Cdp.Server.Identity.IdentifierNormalizer();
        var normal = "user7@example.com";
        Assert.Same(normal, normalizer.Normalize(Cdp.Server.Identity.IdentifierTypes.Email, normal, "email"));
        Assert.Equal(normal, normalizer.Normalize(Cdp.Server.Identity.IdentifierTypes.Email, " User7@Example.COM ", "email"));
        // A lone surrogate is stored as U+FFFD; the string handed back must say the same as the key.
        const byte UserId = 1;
        Assert.Equal("u\uFFFD1", normalizer.Normalize(UserId, "u\uD8001", "user_id"));
        var emoji = "u\U0001F600";
        Assert.Equal(emoji, normalizer.Normalize(UserId, emoji, "user_id"));
    }
}
