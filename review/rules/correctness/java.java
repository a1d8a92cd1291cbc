public class Example {
    boolean isAdmin(String role) {
        // ruleid: java.correctness.string-reference-equality
        if (role == "admin") {
            return true;
        }
        // ok: java.correctness.string-reference-equality
        return "admin".equals(role);
    }

    int length(String s) {
        // ruleid: java.correctness.catch-null-pointer
        try {
            return s.length();
        } catch (NullPointerException e) {
            return 0;
        }
    }
}
